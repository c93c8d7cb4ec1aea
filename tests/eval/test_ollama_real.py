"""The ollama backend against a real Ollama server at OLLAMA_HOST (default 127.0.0.1:11434).

Marked ``ollama``: skipped, with the reason, when nothing answers there (tests/conftest.py). The model is
``TOOLSET_OLLAMA_MODEL`` when set, else the smallest one the server has; a server without models skips.
These tests check the protocol against the real thing, not the model's accuracy.
"""

from __future__ import annotations

import os

import pytest

from toolset.components import ChatResponse
from toolset_eval.backend_config import OllamaConfig
from toolset_eval.ollama import OllamaClient
from toolset_eval.parsing import ParseResult, parse_response

from .conftest import WEATHER_QUESTION as QUESTION
from .conftest import WEATHER_TOOLS as TOOLS

pytestmark = [pytest.mark.ollama, pytest.mark.slow]


@pytest.fixture(scope="module")
def model() -> str:
    client = OllamaClient(OllamaConfig(timeout_s=600))
    tags = client.http.get("/api/tags").get("models") or []
    client.close()
    wanted = os.environ.get("TOOLSET_OLLAMA_MODEL")
    names = [entry.get("name") or entry.get("model") for entry in tags]
    if wanted:
        if wanted not in names:
            pytest.skip(f"TOOLSET_OLLAMA_MODEL={wanted} is not on the Ollama server at {client.base_url} ({names})")
        return wanted
    if not tags:
        pytest.skip(f"the Ollama server at {client.base_url} has no model: `ollama pull qwen2.5:0.5b`")
    return min(tags, key=lambda entry: entry.get("size") or 0).get("name")


def test_real_ollama_lists_models_and_chats_with_tools(model):
    client = OllamaClient(OllamaConfig(model=model, max_tokens=128, timeout_s=600))
    assert model in client.list_models()
    response = client.chat(QUESTION, tools=TOOLS)
    assert isinstance(response, ChatResponse)
    assert response.raw["done"] is True and response.model
    assert response.content or response.tool_calls
    assert isinstance(parse_response(response), ParseResult)
    again = client.chat(QUESTION, tools=TOOLS)
    assert (again.content, again.tool_calls) == (response.content, response.tool_calls)  # temperature 0, seed 0
    client.close()


def test_real_ollama_runs_a_prompt_set(model, tmp_path):
    from toolset.plugins import get_registries
    from toolset_eval.prompts import load_prompt_set
    from toolset_eval.runner import RunSettings, run_cases
    from toolset_eval.scoring import Scorer

    component = get_registries().toolsets.get("claudesidian")
    scorer = Scorer(component.factory(component.default_config()))
    cases = list(load_prompt_set("claudesidian-smoke").cases)[:2]
    settings = RunSettings(concurrency=2, progress=False, offer_tools="expected")
    config = OllamaConfig(model=model, max_tokens=256, timeout_s=600)
    records = run_cases(cases, lambda: OllamaClient(config), scorer, tmp_path, settings=settings)
    assert sorted(record["id"] for record in records) == sorted(case.id for case in cases)
    for record in records:
        assert record["raw"] is not None, record["reasons"]  # the server answered (no backend.error)
        assert isinstance(record["passed"], bool)
