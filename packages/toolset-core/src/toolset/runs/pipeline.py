"""``toolset pipeline``: each of ``train.stages`` through its registered trainer, each stage continuing the one
before, then export and eval — the same folder on CUDA, CPU and MLX, whichever plugin trains. With
``dataset.validate`` the training files are validated first.

ROOT/ (OUTPUT_DIR/RUN_ID)
  STAGE/                one run directory per stage (``toolset.runs`` layout: config.yaml, lineage.json,
                        logs/metrics.jsonl, final_model/); its lineage names the previous stage as parent
  export/adapter/       the last stage's adapter, by the trainer's ``adapter_exporter``  (export.formats: adapter)
  export/merged/        base + adapter merged, by the trainer's ``merge_exporter``      (export.formats: merged)
  export/gguf/          GGUF per export.gguf_types (+ export/ollama/Modelfile)         (export.formats: gguf)
  eval/                 eval.evaluator (schema-exact) on the first GGUF          (eval.after_training: true)
  eval-base/            the same for the untrained model (export/gguf/base-*.gguf)  (eval.baseline: true)
  pipeline.json         what finished; ``--resume`` skips it

Stage names are looked up in the trainer registry, so ``sft``/``kto`` (toolset-cuda), ``mlx-lora``
(toolset-mlx) and any plugin's trainer run the same way. Only rank 0 writes shared files.
"""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from toolset.components import Exporter, Trainer
from toolset.config import RunConfig
from toolset.errors import ToolsetError
from toolset.runs.launch import rank
from toolset.runs import new_run_id
from toolset.runs.steps import usable as usable_component
from toolset.runs.storage import atomic_file

Echo = Callable[[str], None]
TRAINER_OPTIONS = ("parent", "resume", "echo")


class _State:
    def __init__(self, root: Path, resume: bool) -> None:
        self.path = root / "pipeline.json"
        self.data: dict[str, Any] = {"stages": {}}
        if self.path.is_file():
            if not resume:
                raise ToolsetError(f"{root} already holds a pipeline: add --resume to continue it, or change run_id")
            self.data = json.loads(self.path.read_text())

    def done(self, name: str) -> Any:
        return self.data["stages"].get(name)

    def record(self, name: str, result: Any) -> None:
        self.data["stages"][name] = result
        if rank() == 0:
            with atomic_file(self.path) as handle:
                json.dump(self.data, handle, indent=2, default=str)


def stage_trainers(config: RunConfig) -> list[Trainer]:
    """The trainer of each ``train.stages`` name, checked before anything runs: known, usable here, and able to
    give the exports ``export.formats`` asks for."""
    from toolset.plugins import get_registries

    stages = list(config.train.stages)
    if not stages:
        raise ToolsetError("train.stages is empty: name the trainers to run, e.g. [sft, kto] or [mlx-lora]")
    twice = sorted({stage for stage in stages if stages.count(stage) > 1})
    if twice:
        raise ToolsetError(f"train.stages names {', '.join(twice)} twice: each stage gets its own folder ROOT/STAGE")
    registries = get_registries()
    trainers = [usable_trainer(stage, "train.stages") for stage in stages]
    last = trainers[-1]
    wanted = {
        "adapter": ("adapter_exporter", "adapter" in config.export.formats),
        "merged": ("merge_exporter", bool({"merged", "gguf"} & set(config.export.formats))),
    }
    for what, (field, needed) in wanted.items():
        name = getattr(last, field)
        if not needed:
            continue
        if name is None:
            raise ToolsetError(
                f"export.formats: trainer {last.name!r} names no {field.replace('_', ' ')}, so its model cannot be "
                f"exported as {what}{' (GGUF is made from the merged model)' if what == 'merged' else ''}; "
                "drop it from export.formats"
            )
        _usable_exporter(name, f"{field.replace('_', ' ')} of trainer {last.name!r}")
    if "gguf" in config.export.formats:
        _usable_exporter("gguf", "export.formats: gguf")
        if config.export.ollama_modelfile:
            _usable_exporter("ollama", "export.ollama_modelfile")
        if config.eval.after_training:
            usable_component("evaluator", config.eval.evaluator, "eval.evaluator")
            if config.eval.backend not in registries.backends:
                raise ToolsetError(f"eval.backend: {registries.backends.unknown_message(config.eval.backend)}")
    return trainers


def usable_trainer(name: str, what: str) -> Trainer:
    """The registered trainer ``name``, checked usable here; ``what`` says where the name came from."""
    return usable_component("trainer", name, what)


def _usable_exporter(name: str, what: str) -> Exporter:
    return usable_component("exporter", name, what)


def trainer_settings(trainer: Trainer, config: RunConfig) -> Any:
    """The ``config`` argument of a trainer's factory: the run config's section the trainer names
    (``Trainer.section``: ``train.sft``, ``train.kto``, ``train.mlx``, or a plugin's own under
    ``train.plugins.SECTION``), as the trainer's config class; its defaults when the run config has none."""
    from toolset.config import structure_mapping

    if trainer.section is None or trainer.config is None:
        return trainer.default_config()
    builtin = attrs.fields_dict(type(config.train))
    if trainer.section in builtin:
        settings = getattr(config.train, trainer.section)
        if not attrs.has(type(settings)):
            raise ToolsetError(
                f"trainer {trainer.name!r} names train.{trainer.section} as its section, but that is a setting of "
                "train, not a section: give it a section of its own (train.plugins.NAME)"
            )
        if not isinstance(settings, trainer.config):
            raise ToolsetError(
                f"trainer {trainer.name!r} names train.{trainer.section}, which holds {type(settings).__name__} "
                f"settings, not its own {trainer.config.__name__}: give it a section of its own (train.plugins.NAME)"
            )
        return settings
    data = config.train.plugins.get(trainer.section)
    if data is None:
        return trainer.default_config()
    return structure_mapping(trainer.config, data, what=f"train.plugins.{trainer.section}")


def accepted_options(factory: Callable[..., Any], options: dict[str, Any]) -> dict[str, Any]:
    """The keyword ``options`` a factory's signature takes: all with ``**kwargs``, else those it names."""
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):  # no signature to read: the three positional arguments only
        return {}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return dict(options)
    named = {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return {key: value for key, value in options.items() if key in named}


def train_stage(
    trainer: Trainer,
    config: RunConfig,
    run_dir: Path,
    *,
    parent: Path | None = None,
    resume: bool = False,
    echo: Echo = print,
) -> Path:
    """Call the trainer's factory for one stage with the keyword options its signature takes."""
    options = accepted_options(trainer.factory, {"parent": parent, "resume": resume, "echo": echo})
    if parent is not None and "parent" not in options:
        echo(f"[{trainer.name}] this trainer takes no parent: it starts from the base model, not from {parent}")
    if resume and "resume" not in options:
        echo(f"[{trainer.name}] this trainer cannot resume: the stage starts again")
    final = trainer.factory(config, run_dir, trainer_settings(trainer, config), **options)
    if final is None or not Path(final).exists():
        raise ToolsetError(f"trainer {trainer.name!r} returned {final!r}, not the folder of its final model")
    return Path(final)


def run_pipeline(
    config: RunConfig, *, run_dir: Path | None = None, resume: bool = False, dry_run: bool = False, echo: Echo = print
) -> dict[str, Any]:
    """Train every stage (skipping those ``pipeline.json`` records with ``resume``), then export and eval."""
    trainers = stage_trainers(config)
    say = echo if rank() == 0 else (lambda _line: None)  # the pipeline's own lines, once; trainers get echo
    if dry_run:
        if config.dataset.validate:
            echo(f"first validate ({config.dataset.toolset}): {', '.join(_training_files(config)) or 'no file'}")
        for trainer in trainers:
            echo(f"== {trainer.name} ==")
            if trainer.describe is None:
                echo(f"(trainer {trainer.name!r} gives no dry-run description)")
                continue
            for line in trainer.describe(config, trainer_settings(trainer, config)):
                echo(line)
        echo(f"then export: {', '.join(config.export.formats) or 'nothing'}; eval: {config.eval.after_training}")
        if config.eval.after_training and config.eval.baseline:
            echo("and the untrained model, exported and evaluated the same way (eval.baseline)")
        return {}
    root = Path(run_dir) if run_dir else Path(config.output_dir) / (config.run_id or new_run_id(config))
    if rank() == 0:
        root.mkdir(parents=True, exist_ok=True)
    state = _State(root, resume)
    # rank 0 alone: under DDP another rank may start after rank 0 began writing a stage (rank 0's error stops all)
    held = [t.name for t in trainers if not resume and (root / t.name / "lineage.json").exists()]
    if held and rank() == 0:
        raise ToolsetError(f"{root / held[0]} already holds a run: add --resume to continue it, or change run_id")
    if config.dataset.validate and rank() == 0 and not _skip(state, "validate", echo):
        state.record("validate", _validate(config, echo))
    parent: Path | None = None
    last_model: Path | None = None
    for trainer in trainers:
        stage = trainer.name
        stage_dir = root / stage
        done = state.done(stage)
        if not done and resume and (stage_dir / "final_model").is_dir():
            done = {"final_model": str(stage_dir / "final_model"), "steps": _steps(stage_dir / "final_model")}
            state.record(stage, done)  # it finished, but the pipeline stopped before noting it
        if done:
            say(f"[{stage}] done earlier: {done['final_model']}")
        else:
            say(f"[{stage}] training")
            started = time.perf_counter()
            final = train_stage(
                trainer, config, stage_dir, parent=parent, resume=resume and stage_dir.exists(), echo=echo
            )
            done = {"final_model": str(final), "steps": _steps(final), "seconds": _since(started)}
            state.record(stage, done)
        parent, last_model = stage_dir, Path(done["final_model"])
    if rank() != 0 or last_model is None:
        return state.data
    _export_and_eval(config, root, last_model, trainers[-1], state, echo)
    return state.data


def _model_info(final_model: Path | None) -> dict[str, Any]:
    """The ``toolset.json`` trainers write beside the model ({} if absent or unreadable)."""
    try:
        info = json.loads((Path(final_model) / "toolset.json").read_text()) if final_model else {}
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def _steps(final_model: Path) -> int | None:
    """Optimizer steps, from the model's ``toolset.json`` (None if absent)."""
    return _model_info(final_model).get("steps")


def trained_offer(config: RunConfig, final_model: Path | None) -> tuple[str | None, int]:
    """The ``eval run --tools`` value matching how the model was trained, and its distractor count: from the
    model's ``toolset.json`` (``tool_offer``), else from ``dataset.tools``; None when neither tells."""
    from toolset.data.formatters import EVAL_OFFER

    recorded = _model_info(final_model).get("tool_offer") or {}
    if recorded.get("eval_offer"):
        return recorded["eval_offer"], int(recorded.get("distractors", config.dataset.tool_distractors))
    return EVAL_OFFER.get(config.dataset.tools), config.dataset.tool_distractors


def eval_offer(config: RunConfig, final_model: Path | None) -> tuple[str, int, str | None]:
    """(``--tools``, ``--tool-distractors``, ``--tools-trained``) for evaluating the model: ``eval.tools``, or
    with ``auto`` (the default) the offer it was trained with, so training and evaluation prompts match."""
    trained, distractors = trained_offer(config, final_model)
    if config.eval.tools != "auto":
        return config.eval.tools, config.eval.tool_distractors, trained
    return trained or "all", distractors, trained


def _since(started: float) -> float:
    return round(time.perf_counter() - started, 1)


def overwriting(exporter: Exporter) -> Any:
    """The exporter's default settings, with ``overwrite`` on where it has one (the pipeline owns its folders)."""
    settings = exporter.default_config()
    if settings is not None and attrs.has(type(settings)) and "overwrite" in attrs.fields_dict(type(settings)):
        settings = attrs.evolve(settings, overwrite=True)
    return settings


def _export_and_eval(config: RunConfig, root: Path, model: Path, trainer: Trainer, state: _State, echo: Echo) -> None:
    export = config.export
    merged = root / "export" / "merged"
    if "adapter" in export.formats and trainer.adapter_exporter and not _skip(state, "export-adapter", echo):
        exporter = _usable_exporter(trainer.adapter_exporter, "export.formats: adapter")
        path = exporter.factory(model, root / "export" / "adapter", overwriting(exporter))
        state.record("export-adapter", {"path": str(path), "exporter": exporter.name})
        echo(f"[export] adapter ({exporter.name}): {path}")
    needs_merged = "merged" in export.formats or "gguf" in export.formats
    if needs_merged and trainer.merge_exporter and not _skip(state, "export-merged", echo):
        exporter = _usable_exporter(trainer.merge_exporter, "export.formats: merged")
        exporter.factory(model, merged, overwriting(exporter))
        state.record("export-merged", {"path": str(merged), "exporter": exporter.name})
        echo(f"[export] merged ({exporter.name}): {merged}")
    ggufs: list[str] = []
    if "gguf" in export.formats:
        done = state.done("export-gguf")
        if done:
            ggufs = done["paths"]
            echo(f"[export-gguf] done earlier: {', '.join(ggufs)}")
        else:
            ggufs = _export_gguf(config, root, merged, echo)
            state.record("export-gguf", {"paths": ggufs})
    if config.eval.after_training and ggufs and config.eval.baseline:
        done = state.done("export-base")
        base = Path(done["path"]) if done else None
        if base is None:
            base = _export_base(config, root, echo)
            state.record("export-base", {"path": str(base)})
        if not _skip(state, "eval-base", echo):  # the same offer as the tuned model: compared like for like
            offer, distractors, _trained = eval_offer(config, model)
            base_eval = attrs.evolve(config, eval=attrs.evolve(config.eval, tools=offer, tool_distractors=distractors))
            summary = _evaluate(base_eval, root / "eval-base", base, None, trained=False)
            state.record("eval-base", summary)
            echo(f"[eval-base] {_passed(summary)}")
    if config.eval.after_training and ggufs and not _skip(state, "eval", echo):
        summary = _evaluate(config, root / "eval", Path(ggufs[0]), model)
        state.record("eval", summary)
        echo(f"[eval] {_passed(summary)}")


def _passed(summary: dict[str, Any]) -> str:
    return f"{summary['passed']}/{summary['cases']} cases passed ({summary['accuracy']:.1%})"


def _training_files(config: RunConfig) -> list[str]:
    return [str(path) for path in [*config.dataset.sft, *config.dataset.kto]]


def _validate(config: RunConfig, echo: Echo) -> dict[str, Any]:
    """``dataset.validate``: the training files against the tool set, before anything trains."""
    from toolset.runs.steps import validate

    files = _training_files(config)
    report = validate(files, config.dataset.toolset)
    summary = report.to_json().get("summary", {})
    if report.has_errors:
        raise ToolsetError(
            f"dataset.validate: the training data has {summary.get('errors', 'some')} error(s); "
            f"`toolset validate {' '.join(files)}` lists each with its file and line"
        )
    echo(f"[validate] {summary.get('conversations', '?')} conversations in {len(files)} file(s) valid")
    return summary


def _export_base(config: RunConfig, root: Path, echo: Echo) -> Path:
    """``eval.baseline``: the untrained model as GGUF (the first of export.gguf_types), to evaluate beside it."""
    from toolset.config import structure_section
    from toolset.weights.models import local_model_dir

    gguf = _usable_exporter("gguf", "eval.baseline")
    out_type = config.export.gguf_types[0]
    settings = structure_section(
        gguf.config, [f"out_type={out_type}", "name=base", "overwrite=true", "verify=false"], what="exporter gguf"
    )
    path = Path(gguf.factory(local_model_dir(config.model), root / "export" / "gguf", settings))
    echo(f"[export] base model, gguf {out_type}: {path}")
    return path


def _skip(state: _State, name: str, echo: Echo) -> bool:
    if state.done(name):
        echo(f"[{name}] done earlier")
        return True
    return False


def _export_gguf(config: RunConfig, root: Path, merged: Path, echo: Echo) -> list[str]:
    from toolset.config import structure_section

    gguf = _usable_exporter("gguf", "export.formats: gguf")
    paths = []
    for out_type in config.export.gguf_types:
        settings = structure_section(
            gguf.config,
            [f"out_type={out_type}", "name=model", "overwrite=true", f"verify={config.export.verify}"],
            what="exporter gguf",
        )
        path = gguf.factory(merged, root / "export" / "gguf", settings)
        paths.append(str(path))
        echo(f"[export] gguf {out_type}: {path}")
    if config.export.ollama_modelfile and paths:
        ollama = _usable_exporter("ollama", "export.ollama_modelfile")
        modelfile = ollama.factory(Path(paths[0]), root / "export" / "ollama", overwriting(ollama))
        echo(f"[export] Ollama Modelfile: {modelfile}")
    return paths


def _evaluate(
    config: RunConfig, output: Path, gguf: Path, final_model: Path | None = None, *, trained: bool = True
) -> dict[str, Any]:
    """The exported model through ``eval.evaluator`` (``schema-exact``), offered the tools it was trained with
    (``trained=False``: an untrained model, whose evaluation records no training offer)."""
    from toolset.runs.steps import evaluate

    offer, distractors, offer_trained = eval_offer(config, final_model)
    evaluator = usable_component("evaluator", config.eval.evaluator, "eval.evaluator")
    settings = attrs.evolve(config.eval, tools=offer, tool_distractors=distractors)
    if evaluator.config is not None and not isinstance(settings, evaluator.config):
        settings = evaluator.default_config()  # a plugin's evaluator with settings of its own
    model = gguf if config.eval.backend == "llamacpp" else (config.eval.model or gguf.stem)
    resume = (output / "records.jsonl").exists()
    return evaluate(
        model,
        config.eval.prompt_set,
        settings,
        evaluator=config.eval.evaluator,
        output=output,
        resume=resume,
        tools_trained=offer_trained if trained else None,
    )
