"""``toolset pipeline``: SFT, then KTO continuing the SFT adapter, then export and eval — lineage chained.

ROOT/ (OUTPUT_DIR/RUN_ID)
  sft/  kto/            run directories (``toolset.runs`` layout); kto's lineage names sft as parent
  export/adapter/       the last stage's adapter        (export.formats: adapter)
  export/merged/        base + adapter merged, 16-bit   (export.formats: merged)
  export/gguf/          GGUF per export.gguf_types (+ Ollama Modelfile)  (export.formats: gguf)
  eval/                 `toolset eval run` on the first GGUF  (eval.after_training: true)
  pipeline.json         what finished; ``--resume`` skips it
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from toolset.config import RunConfig
from toolset.errors import ToolsetError
from toolset.runs import new_run_id
from toolset.storage import atomic_file
from toolset_cuda import training

Echo = Callable[[str], None]


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
        with atomic_file(self.path) as handle:
            json.dump(self.data, handle, indent=2, default=str)


def run_pipeline(
    config: RunConfig, *, run_dir: Path | None = None, resume: bool = False, dry_run: bool = False, echo: Echo = print
) -> dict[str, Any]:
    root = Path(run_dir) if run_dir else Path(config.output_dir) / (config.run_id or new_run_id(config))
    unknown = [stage for stage in config.train.stages if stage not in ("sft", "kto")]
    if unknown:
        raise ToolsetError(f"train.stages: {', '.join(unknown)} not trainable here (known: sft, kto)")
    if dry_run:
        for stage in config.train.stages:
            echo(f"== {stage} ==")
            for line in training.describe(training.plan_run(stage, config, echo=echo)):
                echo(line)
        echo(f"then export: {', '.join(config.export.formats) or 'nothing'}; eval: {config.eval.after_training}")
        return {}
    if training.rank() == 0:
        root.mkdir(parents=True, exist_ok=True)
    state = _State(root, resume)
    parent: Path | None = None
    last_model: Path | None = None
    for stage in config.train.stages:
        stage_dir = root / stage
        done = state.done(stage)
        if done:
            echo(f"[{stage}] done earlier: {done['final_model']}")
        else:
            echo(f"[{stage}] training")
            started = time.perf_counter()
            result = training.train(
                stage,
                config,
                run_dir=stage_dir,
                parent=parent,
                resume=resume and stage_dir.exists(),
                echo=echo,
            )
            done = {"final_model": str(result.final_model), "steps": result.steps, "seconds": _since(started)}
            if training.rank() == 0:
                state.record(stage, done)
        parent, last_model = stage_dir, Path(done["final_model"])
    if training.rank() != 0 or last_model is None:
        return state.data
    _export_and_eval(config, root, last_model, state, echo)
    return state.data


def _since(started: float) -> float:
    return round(time.perf_counter() - started, 1)


def _export_and_eval(config: RunConfig, root: Path, model: Path, state: _State, echo: Echo) -> None:
    from toolset_cuda.exporters import LoraExportConfig, MergedExportConfig, export_lora, export_merged_16bit

    export = config.export
    merged = root / "export" / "merged"
    if "adapter" in export.formats and not state.done("export-adapter"):
        path = export_lora(model, root / "export" / "adapter", LoraExportConfig(overwrite=True))
        state.record("export-adapter", {"path": str(path)})
        echo(f"[export] adapter: {path}")
    needs_merged = "merged" in export.formats or "gguf" in export.formats
    if needs_merged and not state.done("export-merged"):
        export_merged_16bit(model, merged, MergedExportConfig(overwrite=True))
        state.record("export-merged", {"path": str(merged)})
        echo(f"[export] merged: {merged}")
    ggufs: list[str] = []
    if "gguf" in export.formats:
        done = state.done("export-gguf")
        if done:
            ggufs = done["paths"]
        else:
            ggufs = _export_gguf(config, root, merged, echo)
            state.record("export-gguf", {"paths": ggufs})
    if config.eval.after_training and ggufs and not state.done("eval"):
        summary = _evaluate(config, root / "eval", Path(ggufs[0]))
        state.record("eval", summary)
        echo(f"[eval] {json.dumps(summary)[:300]}")


def _export_gguf(config: RunConfig, root: Path, merged: Path, echo: Echo) -> list[str]:
    from toolset import get_exporter
    from toolset.config import structure_section

    gguf = get_exporter("gguf")
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
        ollama = get_exporter("ollama")
        modelfile = ollama.factory(Path(paths[0]), root / "export" / "ollama", ollama.default_config())
        echo(f"[export] Ollama Modelfile: {modelfile}")
    return paths


def _evaluate(config: RunConfig, output: Path, gguf: Path) -> dict[str, Any]:
    context = click.get_current_context(silent=True)
    root_command = context.find_root().command if context else None
    command = None
    if isinstance(root_command, click.Group) and isinstance(root_command.commands.get("eval"), click.Group):
        command = root_command.commands["eval"].commands.get("run")
    if command is None:
        raise ToolsetError('evaluation needs toolset-eval: pip install "toolset-core[eval]"')
    args = [
        "--backend",
        config.eval.backend,
        "--prompt-set",
        config.eval.prompt_set,
        "--output",
        str(output),
        "--concurrency",
        str(config.eval.concurrency),
        "--seed",
        str(config.eval.seed),
        "--no-progress",
        "--tools",
        config.eval.tools,
        "--retries",
        str(config.eval.retries),
    ]
    if config.eval.backend == "llamacpp":  # in-process: the exported file itself
        for option in (
            f"model_path={gguf}",
            "n_ctx=8192",
            f"max_tokens={config.eval.max_tokens}",
            f"temperature={config.eval.temperature}",
        ):
            args += ["--option", option]
    else:  # a server (Ollama, LM Studio, vLLM...) that already serves the exported model
        args += ["--timeout", str(config.eval.timeout_s), "--model", config.eval.model or gguf.stem] + (
            ["--host", config.eval.host] if config.eval.host else []
        )
    if config.eval.limit:
        args += ["--limit", str(config.eval.limit)]
    if (output / "records.jsonl").exists():
        args.append("--resume")
    try:
        command.main(args=args, prog_name="toolset eval run", standalone_mode=False)
    except SystemExit as exc:
        if exc.code:
            raise ToolsetError("evaluation failed (see above)") from None
    return json.loads((output / "report.json").read_text())["summary"]
