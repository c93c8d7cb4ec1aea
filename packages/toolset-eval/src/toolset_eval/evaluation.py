"""One evaluation as a Python call: a backend, a prompt set and a tool offer in; records and reports out.

``toolset eval run`` is this function behind click; pipelines, benchmarks and scripts call it directly.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs


@attrs.define(kw_only=True)
class Evaluation:
    """What to evaluate and how; the fields mirror ``toolset eval run``'s options."""

    backend: str
    prompt_set: str
    output: Path | None = None  # default: eval-runs/SET-BACKEND[-MODEL]
    model: str | None = None
    host: str | None = None
    toolset_name: str = "claudesidian"
    concurrency: int = 4
    limit: int | None = None
    resume: bool = False
    retries: int = 3
    timeout_s: float | None = None
    seed: int = 0
    options: tuple[str, ...] = ()  # backend config values, KEY=VALUE
    no_progress: bool = False
    offer_tools: str = "all"  # all | expected | distractors | none
    distractors: int = 3
    tools_trained: str | None = None  # the offer matching the model's training, when known (recorded)


@attrs.define
class EvaluationResult:
    report: dict[str, Any]
    paths: list[Path]
    output: Path
    unanswered: int  # cases the backend never answered (after retries)
    first_error: str | None

    @property
    def summary(self) -> dict[str, Any]:
        return self.report["summary"]


def evaluate(evaluation: Evaluation, echo: Callable[[str], None] = print) -> EvaluationResult:
    """Ask every case, score it, write records.jsonl and report.json / .md / .png to the output folder."""
    from toolset.config import structure_section
    from toolset.plugins import get_registries
    from toolset_eval.prompts import load_prompt_set
    from toolset_eval.reports import build_report, write_reports
    from toolset_eval.runner import RECORDS_FILE, RunSettings, read_records, run_cases, sampling_of, unanswered
    from toolset_eval.scoring import Scorer

    registries = get_registries()
    backend = registries.backends.get(evaluation.backend)
    what = f"backend {evaluation.backend}"
    config = structure_section(backend.config, evaluation.options, what=what)
    if config is None and backend.config is not None:
        config = backend.config()
    for name in ("host", "model", "timeout_s"):
        if getattr(evaluation, name) is not None:
            config = _set_field(config, name, getattr(evaluation, name), what)
    prompts = load_prompt_set(evaluation.prompt_set)
    cases = list(prompts.cases)[: evaluation.limit] if evaluation.limit else list(prompts.cases)
    component = registries.toolsets.get(evaluation.toolset_name)
    catalog = component.factory(component.default_config())
    slug = f"{prompts.name}-{evaluation.backend}" + (f"-{evaluation.model}" if evaluation.model else "")
    output = Path(evaluation.output or Path("eval-runs") / re.sub(r"[^A-Za-z0-9_.-]+", "-", slug))
    settings = RunSettings(
        concurrency=evaluation.concurrency,
        retries=evaluation.retries,
        sampling={"seed": evaluation.seed},
        progress=not evaluation.no_progress,
        offer_tools=evaluation.offer_tools,
        distractors=evaluation.distractors,
    )
    if evaluation.resume:
        again = sum(map(unanswered, read_records(output / RECORDS_FILE)))
        if again:
            echo(f"asking again {again} case(s) that got no answer before")
    records = run_cases(
        cases, lambda: backend.factory(config), Scorer(catalog), output, settings=settings, resume=evaluation.resume
    )
    metadata = {
        "backend": evaluation.backend,
        "model": getattr(config, "model", None) or next((r.get("model") for r in records if r.get("model")), None),
        "prompt_set": prompts.name,
        "prompt_set_source": prompts.source,
        "sampling": sampling_of(config, {"seed": evaluation.seed}),
        "toolset": evaluation.toolset_name,
        "toolset_version": _version(component.plugin),
        "toolset_eval_version": _version("toolset-eval"),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "concurrency": evaluation.concurrency,
        "tools_offered": evaluation.offer_tools,
        **({"tool_distractors": evaluation.distractors} if evaluation.offer_tools == "distractors" else {}),
        **({"tools_trained": evaluation.tools_trained} if evaluation.tools_trained else {}),
    }
    wanted = {case.id for case in cases}
    chosen = [r for r in records if r["id"] in wanted]
    report = build_report(chosen, metadata)
    paths = write_reports(report, output)
    silent = [r for r in chosen if unanswered(r)]
    first = silent[0]["reasons"][0]["message"] if silent else None
    return EvaluationResult(report, paths, output, len(silent), first)


# --model means the backend's model, whatever its setting is called: a GGUF file in process is ``model_path``.
_SAME_AS = {"model": ("model", "model_path")}


def _set_field(config: object, name: str, value: object, what: str) -> object:
    from toolset.errors import ConfigError

    fields = {field.name for field in attrs.fields(type(config))} if config is not None else set()
    target = next((field for field in _SAME_AS.get(name, (name,)) if field in fields), None)
    if target is None:
        raise ConfigError(f"{what} has no {name!r} setting")
    return attrs.evolve(config, **{target: value})


def _version(distribution: str | None) -> str | None:
    from importlib import metadata

    if not distribution:
        return None
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def evaluate_model(
    model: str | Path,
    prompt_set: str,
    config: Any = None,
    *,
    output: Path | None = None,
    resume: bool = False,
    tools_trained: str | None = None,
    echo: Callable[[str], None] = print,
) -> dict[str, Any]:
    """The ``schema-exact`` evaluator's factory: ``config`` is a run config's ``eval`` section
    (:class:`toolset.config.EvalConfig`); ``model`` a GGUF file for ``llamacpp``, else the served model's name.
    Returns the report's summary; a run in which no case got an answer is an error, not a 0% model."""
    from toolset.config import EvalConfig
    from toolset.errors import ToolsetError

    config = config or EvalConfig()
    offer = config.tools if config.tools != "auto" else (tools_trained or "all")
    evaluation = Evaluation(
        backend=config.backend,
        prompt_set=prompt_set,
        output=Path(output) if output else None,
        concurrency=config.concurrency,
        limit=config.limit,
        resume=resume,
        retries=config.retries,
        seed=config.seed,
        no_progress=True,
        offer_tools=offer,
        distractors=config.tool_distractors,
        tools_trained=tools_trained,
    )
    if config.backend == "llamacpp":  # in-process: the model is the GGUF file itself
        evaluation.options = (
            f"model_path={model}",
            "n_ctx=8192",
            f"max_tokens={config.max_tokens}",
            f"temperature={config.temperature}",
        )
    else:  # a server (Ollama, LM Studio, vLLM...) that already serves the model
        evaluation.model = config.model or Path(str(model)).stem
        evaluation.host, evaluation.timeout_s = config.host, config.timeout_s
    result = evaluate(evaluation, echo=echo)
    if result.unanswered and result.unanswered == result.summary["cases"]:
        raise ToolsetError(
            f"no case got an answer from backend {config.backend}: {result.first_error} "
            f"(start the server or fix eval.host; the run in {result.output} resumes)"
        )
    if result.unanswered:
        echo(f"warning: {result.unanswered} case(s) got no answer (first: {result.first_error})")
    return result.summary
