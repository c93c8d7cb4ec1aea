"""The in-process transformers backend on CPU: the embedded SmolLM2-135M-Instruct, tiny random models, and a
PEFT LoRA adapter made here (the adapter must really change the model)."""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path

import pytest

from tests.model_factory import tiny_model
from toolset.components import ChatResponse
from toolset_eval import hf
from toolset_eval.backend_config import TransformersConfig
from toolset_eval.errors import BackendError
from toolset_eval.hf import TransformersClient
from toolset_eval.parsing import parse_response
from toolset_eval.plugin import transformers_client

from .conftest import WEATHER_QUESTION as QUESTION
from .conftest import WEATHER_TOOLS as TOOLS

pytest.importorskip("torch")
pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def tiny(embedded_hf: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model(embedded_hf, tmp_path_factory.mktemp("tiny") / "tiny-llama", "llama")


def make_adapter(base: Path, destination: Path, *, zero_b: bool = False) -> Path:
    """A LoRA adapter of ``base`` saved with PEFT; random lora_B (non-zero) unless ``zero_b``."""
    import torch
    import transformers
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(1)
    model = transformers.AutoModelForCausalLM.from_pretrained(str(base))
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=zero_b)
    peft_model = get_peft_model(model, config)
    if not zero_b:
        with torch.no_grad():
            for name, parameter in peft_model.named_parameters():
                if "lora_B" in name:
                    parameter.normal_(0.0, 2.0)
    peft_model.save_pretrained(str(destination))
    return destination


def logits(client: TransformersClient, text: str = "Hello there, tools"):
    import torch

    loaded = client.loaded()
    encoded = loaded.tokenizer(text, return_tensors="pt")
    with torch.inference_mode():
        return loaded.model(**encoded).logits


def test_building_a_client_loads_nothing(tiny):
    client = transformers_client(TransformersConfig(model=str(tiny)))
    assert client._loaded is None
    assert client.list_models() == ["tiny-llama"]  # resolves paths only
    assert client._loaded is None


def test_embedded_model_chats_with_tools_deterministically(embedded_hf):
    client = transformers_client(TransformersConfig(model=str(embedded_hf), max_tokens=8, chat_template="chatml"))
    prompt = client.render(QUESTION, TOOLS)
    assert '"name": "get_weather"' in prompt and "<tool_call>" in prompt  # tools reach the template
    assert prompt.endswith("<|im_start|>assistant\n")
    first = client.chat(QUESTION, TOOLS)
    assert isinstance(first, ChatResponse)
    assert first.model == embedded_hf.name and first.tool_calls == []
    assert 0 < first.raw["usage"]["completion_tokens"] <= 8
    assert first.content == client.chat(QUESTION, TOOLS).content
    sampled = [client.chat(QUESTION, temperature=1.0, seed=5, max_tokens=6).content for _ in range(2)]
    assert sampled[0] == sampled[1]
    assert parse_response(first).error in (None, "parse.no_tool_call", "parse.empty", "parse.invalid_json")
    client.close()


def test_default_model_is_the_embedded_one(embedded_hf, monkeypatch):
    import toolset.weights.models

    monkeypatch.setattr(toolset.weights.models, "embedded_model_dir", lambda: embedded_hf)
    assert TransformersClient().list_models() == [embedded_hf.name]


def test_clients_share_one_loaded_model_until_the_last_closes(tiny):
    from toolset_eval import hf

    first, second = (TransformersClient(TransformersConfig(model=str(tiny))) for _ in range(2))
    assert first.loaded() is second.loaded()
    first.close()
    assert first.spec in hf._CACHE
    second.close()
    assert second.spec not in hf._CACHE


def test_lora_adapter_is_applied(tiny, tmp_path):
    from peft import PeftModel

    adapter = make_adapter(tiny, tmp_path / "adapter")
    assert json.loads((adapter / "adapter_config.json").read_text())["base_model_name_or_path"] == str(tiny)
    base = TransformersClient(TransformersConfig(model=str(tiny)))
    tuned = TransformersClient(TransformersConfig(model=str(adapter)))  # an adapter folder as the model
    assert tuned.spec.base == tiny.resolve() and tuned.spec.adapter == adapter.resolve()
    assert tuned.list_models() == ["tiny-llama+adapter"]
    assert isinstance(tuned.loaded().model, PeftModel)
    assert (logits(base) - logits(tuned)).abs().max().item() > 1e-3
    explicit = TransformersClient(TransformersConfig(model=str(tiny), adapter=str(adapter)))
    assert explicit.spec == tuned.spec
    assert isinstance(explicit.chat(QUESTION, TOOLS, max_tokens=4), ChatResponse)
    for client in (base, tuned, explicit):
        client.close()


def test_zero_lora_b_leaves_the_logits_unchanged(tiny, tmp_path):
    """The control for the test above: an adapter initialised as PEFT does (lora_B = 0) changes nothing."""
    adapter = make_adapter(tiny, tmp_path / "zero", zero_b=True)
    base = TransformersClient(TransformersConfig(model=str(tiny)))
    tuned = TransformersClient(TransformersConfig(model=str(adapter)))
    assert (logits(base) - logits(tuned)).abs().max().item() < 1e-5
    base.close()
    tuned.close()


def test_adapter_base_comes_from_base_model_when_its_recorded_path_is_gone(tiny, tmp_path):
    moved_base = tmp_path / "moved-base"
    shutil.copytree(tiny, moved_base)
    adapter = make_adapter(moved_base, tmp_path / "run" / "final_model")
    shutil.rmtree(moved_base)
    with pytest.raises(BackendError, match=r"base model of the adapter .* is not a folder here: set base_model=PATH"):
        TransformersClient(TransformersConfig(model=str(tmp_path / "run"))).list_models()
    client = TransformersClient(TransformersConfig(model=str(tmp_path / "run"), base_model=str(tiny)))
    assert client.spec.adapter == adapter.resolve() and client.spec.base == tiny.resolve()
    (adapter / "toolset.json").write_text(json.dumps({"base_model_dir": str(tiny)}))  # what training records
    assert TransformersClient(TransformersConfig(model=str(adapter))).spec.base == tiny.resolve()


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"model": "/nonexistent/model"}, "model '/nonexistent/model' is not a folder"),
        ({"adapter": "/nonexistent/adapter"}, "holds no adapter_config.json"),
        ({"base_model": "/nonexistent/base"}, "no config.json"),
    ],
)
def test_bad_paths_are_clear_errors(config, message):
    with pytest.raises(BackendError, match=message):
        TransformersClient(TransformersConfig(**config)).list_models()


def test_cuda_without_a_gpu_is_a_clear_error(tiny):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    with pytest.raises(BackendError, match="device=cuda but torch sees no CUDA GPU"):
        TransformersClient(TransformersConfig(model=str(tiny), device="cuda")).chat(QUESTION)


def test_unknown_option_and_unknown_template_are_refused(tiny):
    client = TransformersClient(TransformersConfig(model=str(tiny)))
    with pytest.raises(BackendError, match="unknown chat option.*num_predict"):
        client.chat(QUESTION, num_predict=3)
    with pytest.raises(BackendError, match="unknown chat template 'nope'"):
        TransformersClient(TransformersConfig(model=str(tiny), chat_template="nope")).chat(QUESTION)
    client.close()


def test_runner_scores_generated_hermes_calls_batched_one_generate_at_a_time(tiny, tmp_path, monkeypatch):
    """A run with 3 threads: each thread's client shares the model, and their greedy requests are batched;
    generate is scripted to write a Hermes call after each prompt of the batch, so the decoded text goes through
    the parser and the scorer like a real answer."""
    import torch

    from toolset.components import ToolCatalog, ToolSpec
    from toolset_eval.prompts import parse_prompt_set
    from toolset_eval.runner import RunSettings, run_cases
    from toolset_eval.scoring import Scorer

    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    catalog = ToolCatalog(name="weather", tools=[ToolSpec("get_weather", "Weather of a city", schema)])
    cities = ["Paris", "Lyon", "Nice", "Lille", "Brest", "Metz"]
    raw_cases = [
        {
            "id": f"c{index}",
            "question": f"Weather in {city}?",
            "tags": [],
            "system": "",
            "expected_tools": ["get_weather"],
            "expected_args": {"get_weather": {"city": city}},
        }
        for index, city in enumerate(cities)
    ]
    cases = list(parse_prompt_set(raw_cases, "weather.json").cases)
    config = TransformersConfig(model=str(tiny), chat_template="chatml", max_tokens=64)
    monkeypatch.setattr(hf, "GATHER_S", 0.5)  # 3 workers; this test's own client counts as a 4th that never asks
    shared = TransformersClient(config)
    loaded = shared.loaded()
    tokenizer, real_generate = loaded.tokenizer, loaded.model.generate
    inside = {"now": 0, "most": 0}
    batches: list[int] = []
    counter_lock = threading.Lock()

    def scripted_generate(input_ids, attention_mask, **kwargs):
        with counter_lock:
            inside["now"] += 1
            inside["most"] = max(inside["most"], inside["now"])
            batches.append(len(input_ids))
        try:
            real_generate(input_ids=input_ids, attention_mask=attention_mask, max_new_tokens=2, do_sample=False)
            answers = []
            for row, mask in zip(input_ids, attention_mask, strict=True):
                prompt = tokenizer.decode(row[mask.bool()])
                city = prompt.rsplit("Weather in ", 1)[1].split("?", 1)[0]
                city = "Rome" if city == "Nice" else city  # one wrong value
                text = f'<tool_call>\n{{"name": "get_weather", "arguments": {{"city": "{city}"}}}}\n</tool_call>'
                # text after the end of turn is dropped, then the padding of a row that ended first
                answers.append(tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id, 7])
            width = max(map(len, answers))
            padded = [answer + [kwargs["pad_token_id"]] * (width - len(answer)) for answer in answers]
            time.sleep(0.02)
            return torch.cat([input_ids, torch.tensor(padded)], dim=1)
        finally:
            with counter_lock:
                inside["now"] -= 1

    loaded.model.generate = scripted_generate
    try:
        settings = RunSettings(concurrency=3, progress=False)
        records = run_cases(cases, lambda: TransformersClient(config), Scorer(catalog), tmp_path, settings=settings)
    finally:
        del loaded.model.generate
        shared.close()
    by_id = {record["id"]: record for record in records}
    assert len(records) == 6
    assert inside["most"] == 1  # the lock around generate
    assert sum(batches) == 6 and max(batches) > 1, batches
    assert {record_id for record_id, record in by_id.items() if not record["passed"]} == {"c2"}
    assert [reason["code"] for reason in by_id["c2"]["reasons"]] == ["value.mismatch"]
    assert by_id["c0"]["parse"]["style"] == "hermes"
    assert by_id["c0"]["calls"] == [{"name": "get_weather", "arguments": {"city": "Paris"}}]
    assert by_id["c0"]["raw"]["content"].endswith("</tool_call>")
    assert by_id["c0"]["raw"]["payload"]["finish_reason"] == "stop"
    assert by_id["c0"]["model"] == "tiny-llama"


def test_eval_run_command_with_an_adapter(fresh_plugins, tiny, tmp_path):
    from click.testing import CliRunner

    from toolset.cli import cli

    fresh_plugins.add_commands(cli)
    adapter = make_adapter(tiny, tmp_path / "adapter")
    arguments = ["eval", "run", "--backend", "transformers", "--model", str(adapter), "--prompt-set"]
    arguments += ["claudesidian-smoke", "--limit", "2", "--tools", "expected", "--no-progress"]
    arguments += ["--option", "max_tokens=4", "--option", "chat_template=chatml", "--option", "device=cpu"]
    result = CliRunner().invoke(cli, [*arguments, "--output", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["summary"]["cases"] == 2 and report["metadata"]["backend"] == "transformers"
    assert {record["model"] for record in report["records"]} == {"tiny-llama+adapter"}
    bad = CliRunner().invoke(cli, [*arguments, "--option", "device=tpu", "--output", str(tmp_path / "bad")])
    assert bad.exit_code == 1 and "device" in bad.output and "Traceback" not in bad.output


def test_history_with_a_tool_call_renders_its_arguments_once(tiny):
    client = TransformersClient(TransformersConfig(model=str(tiny), chat_template="chatml"))
    call = {"id": "c1", "name": "get_weather", "arguments": '{"city": "Paris"}'}  # arguments as a JSON string
    history = [
        *QUESTION,
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": '{"sky": "clear"}'},
    ]
    prompt = client.render(history, TOOLS)
    assert '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>' in prompt
    assert '<tool_response>\n{"sky": "clear"}\n</tool_response>' in prompt
    client.close()


def ask_at_once(config: TransformersConfig, questions: list[str], generate=None, tools=None) -> tuple[list, list]:
    """Each question asked by its own client, all in threads released together; the model's generate replaced
    by ``generate(real_generate, input_ids, **kwargs)`` if given. Returns each answer's raw payload (or the
    exception it raised, as text) and the batch size of every generate call."""
    clients = [TransformersClient(config) for _ in questions]
    loaded = clients[0].loaded()
    for client in clients[1:]:
        client.loaded()  # every client counts before the first request
    real_generate, batches = loaded.model.generate, []

    def counting_generate(input_ids, **kwargs):
        batches.append(len(input_ids))
        if generate is not None:
            return generate(real_generate, input_ids, **kwargs)
        return real_generate(input_ids=input_ids, **kwargs)

    loaded.model.generate = counting_generate
    answers: list = [None] * len(questions)
    start = threading.Barrier(len(questions))

    def ask(index: int) -> None:
        start.wait()
        try:
            answers[index] = clients[index].chat([{"role": "user", "content": questions[index]}], tools).raw
        except Exception as exc:  # kept as the answer
            answers[index] = f"{type(exc).__name__}: {exc}"

    threads = [threading.Thread(target=ask, args=(index,)) for index in range(len(questions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    del loaded.model.generate
    for client in clients:
        client.close()
    return answers, batches


def test_concurrent_greedy_requests_are_batched_with_the_answers_of_one_at_a_time(tiny, monkeypatch):
    """Four clients asking at once get one left-padded generate and, in float64 (no rounding ties), the same
    answers and token counts as one client asking in turn."""
    monkeypatch.setattr(hf, "GATHER_S", 30.0)  # the batch waits for all four however busy the machine is
    questions = [f"{word} weather, please?" for word in ("Paris", "a much longer question about Lyon", "Nice", "x")]
    config = TransformersConfig(model=str(tiny), chat_template="chatml", max_tokens=12, dtype="float64")
    alone = TransformersClient(config)
    expected = [alone.chat([{"role": "user", "content": q}], TOOLS).raw for q in questions]
    alone.close()
    answers, batches = ask_at_once(config, questions, tools=TOOLS)
    assert batches == [4]
    assert answers == expected


def test_sampled_requests_run_one_at_a_time_with_their_seed(tiny):
    config = TransformersConfig(model=str(tiny), chat_template="chatml", max_tokens=8, temperature=0.9, seed=5)
    alone = TransformersClient(config)
    expected = alone.chat([{"role": "user", "content": "Weather?"}]).content
    alone.close()
    answers, batches = ask_at_once(config, ["Weather?"] * 3)
    assert batches == [1, 1, 1]
    assert [answer["text"] for answer in answers] == [expected] * 3


def test_a_batch_that_fails_is_run_again_one_request_at_a_time(tiny, monkeypatch):
    """Out of memory for four prompts at once: each request is answered alone instead, as without batching; a
    request that fails alone too is that request's error."""
    monkeypatch.setattr(hf, "GATHER_S", 30.0)
    config = TransformersConfig(model=str(tiny), chat_template="chatml", max_tokens=4)
    probe = TransformersClient(config)
    tokenizer = probe.loaded().tokenizer
    probe.close()

    def small_memory_generate(real_generate, input_ids, **kwargs):
        if len(input_ids) > 1:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        if "x" * 30 in tokenizer.decode(input_ids[0]):
            raise RuntimeError("too long")
        return real_generate(input_ids=input_ids, **kwargs)

    answers, batches = ask_at_once(config, ["Paris?", "Lyon?", "x" * 30, "Nice?"], small_memory_generate)
    assert batches == [4, 1, 1, 1, 1]
    assert all(isinstance(answers[index], dict) for index in (0, 1, 3))
    assert "generation failed: too long" in answers[2]


def test_an_unexpected_error_in_a_batch_reaches_its_thread_and_frees_the_others(tiny, monkeypatch):
    monkeypatch.setattr(hf, "GATHER_S", 30.0)
    config = TransformersConfig(model=str(tiny), chat_template="chatml", max_tokens=4)

    def broken_generate(real_generate, input_ids, **kwargs):
        raise TypeError("boom")

    answers, batches = ask_at_once(config, ["a?", "b?", "c?"], broken_generate)
    assert batches == [3]
    assert sorted(answers) == ["BackendError: transformers backend (tiny-llama): generation stopped"] * 2 + [
        "TypeError: boom"
    ]
