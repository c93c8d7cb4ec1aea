"""``toolset eval run --tools all|expected|none``: which tool definitions each request carries."""

from __future__ import annotations

import pytest

from toolset.components import ChatResponse
from toolset_eval.runner import RunSettings, run_cases
from toolset_eval.scoring import Scorer

from .test_runner import CATALOG, make_cases


class Recorder:
    """A backend client that records the tools it was offered and answers with text."""

    def __init__(self, seen: dict) -> None:
        self.seen = seen

    def chat(self, messages, tools=None, **options):
        self.seen[messages[-1]["content"]] = [tool["function"]["name"] for tool in tools or []]
        return ChatResponse(content="No tool needed.")

    def list_models(self):
        return ["recorder"]


@pytest.mark.parametrize(
    ("mode", "for_call", "for_trivia"),
    [
        ("all", ["notes_read", "notes_delete"], ["notes_read", "notes_delete"]),
        ("expected", ["notes_read"], []),
        ("none", [], []),
    ],
)
def test_offered_tools_follow_the_mode(tmp_path, mode, for_call, for_trivia):
    seen: dict = {}
    settings = RunSettings(concurrency=1, progress=False, offer_tools=mode)
    run_cases(make_cases(3), lambda: Recorder(seen), Scorer(CATALOG), tmp_path, settings=settings)
    assert seen["read note 1"] == for_call
    assert seen["trivia 0"] == for_trivia


def test_distractors_offer_the_expected_tools_and_others_drawn_per_case(tmp_path):
    seen: dict = {}
    settings = RunSettings(concurrency=1, progress=False, offer_tools="distractors", distractors=1)
    run_cases(make_cases(6), lambda: Recorder(seen), Scorer(CATALOG), tmp_path, settings=settings)
    assert sorted(seen["read note 1"]) == ["notes_delete", "notes_read"]  # the expected tool and one other
    assert len(seen["trivia 0"]) == 1  # no expected tool: one distractor
    again: dict = {}
    run_cases(make_cases(6), lambda: Recorder(again), Scorer(CATALOG), tmp_path / "again", settings=settings)
    assert again == seen  # the same case gets the same offer in every run
