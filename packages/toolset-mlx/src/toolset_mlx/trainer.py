"""The ``mlx-lora`` trainer: staged LoRA/DoRA curricula on Apple Silicon (the CPU elsewhere) with mlx-lm.

Each stage lists its datasets, iterations and learning rate and starts from the previous stage's adapters
(or ``resume_adapter``). Data goes through the same ``sft`` formatter and chat-template decision as the CUDA
trainers (:mod:`toolset.data.prepare`). The run directory and metrics rows are toolset's shared layout
(``toolset.runs``): ``config.yaml``, ``lineage.json``, ``logs/metrics.jsonl``, ``logs/run.log``,
``logs/loss.png``, ``final_model/`` — plus ``stages/NAME/`` with each stage's adapters.
"""

from __future__ import annotations

import json
import platform
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import attrs

from toolset.config import MlxStageConfig, RunConfig
from toolset.data.prepare import Prepared, load_tokenizer, model_type, prepare, template_for
from toolset.errors import ToolsetError
from toolset.runs import MetricsLog, plot_loss, prepare_run
from toolset.runs.storage import atomic_directory, atomic_file
from toolset_mlx.lora import ADAPTER_FILE, load_model, train_adapter

Echo = Callable[[str], None]


@attrs.define(kw_only=True)
class MlxTrainOptions:
    """``stage``: ``all``, a stage name or its 1-based number; ``resume_adapter``: a folder holding
    ``adapters.safetensors`` the first chosen stage starts from; ``test_prompts`` run after each stage;
    ``lr_schedule`` (constant or cosine to 0 over the stage) and ``warmup_steps`` of linear warm-up override
    ``train.mlx.lr_schedule`` and ``train.mlx.warmup_steps`` of the config when given."""

    stage: str = "all"
    resume_adapter: str | None = None
    test_prompts: list[str] = attrs.Factory(list)
    max_test_tokens: int = 64
    lr_schedule: Literal["constant", "cosine"] | None = None
    warmup_steps: int | None = None


def stages_of(config: RunConfig) -> list[MlxStageConfig]:
    mlx = config.train.mlx
    if mlx.stages:
        return list(mlx.stages)
    return [
        MlxStageConfig(
            name="main", datasets=list(config.dataset.sft), iterations=mlx.iterations, learning_rate=mlx.learning_rate
        )
    ]


def select_stages(stages: list[MlxStageConfig], wanted: str) -> list[int]:
    """Indexes of the stages to run: all, one by name, or one by 1-based number."""
    wanted = str(wanted)
    if wanted == "all":
        return list(range(len(stages)))
    names = [stage.name for stage in stages]
    if wanted in names:
        return [names.index(wanted)]
    if wanted.isdigit() and 1 <= int(wanted) <= len(stages):
        return [int(wanted) - 1]
    raise ToolsetError(f"unknown stage {wanted!r}; stages: {', '.join(names)} (or 1..{len(stages)}, or all)")


def model_folder(config: RunConfig) -> Path:
    path = Path(config.model.name).expanduser()
    if path.is_dir():
        return path
    from toolset.weights.models import local_model_dir

    return local_model_dir(config.model)


class RunLog:
    """Echo a line and append it, time-stamped, to ``logs/run.log``."""

    def __init__(self, run_dir: Path, echo: Echo = print) -> None:
        self.path, self.echo = Path(run_dir) / "logs" / "run.log", echo

    def __call__(self, line: str) -> None:
        self.echo(line)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")


def engine_detail() -> str:
    import mlx.core as mx

    where = "Apple Silicon GPU" if mx.default_device() == mx.gpu else "CPU (mlx[cpu])"
    return f"mlx-lm on the {where}, {platform.machine()} {platform.system()}"


def _metrics_writer(metrics: MetricsLog, log: RunLog) -> Callable[[dict[str, Any]], None]:
    def write(row: dict[str, Any]) -> None:
        metrics.write(row)
        if "loss" in row:
            log(
                f"{row['step']:>6} {row['epoch']:>6.2f} {row['loss']:>9.4f} {row['lr']:>10.2e} "
                f"{row['tokens_per_s']:>8.0f} {row['peak_memory_mb']:>9.0f}"
            )
        else:
            log(f"eval at step {row['step']}: loss {row.get('eval_loss')}")

    return write


def _template(config: RunConfig, model_path: Path) -> tuple[Any, str, str]:
    """The tokenizer, the chat template to train with and the note saying which and why."""
    tokenizer = load_tokenizer(model_path, trust_remote_code=config.model.trust_remote_code)
    template, note = template_for(tokenizer, config, model_type=model_type(model_path))
    return tokenizer, template, note


def _local_model(config: RunConfig) -> Path:
    model_path = model_folder(config)
    if not (model_path / "config.json").is_file():
        raise ToolsetError(f"{model_path}: not a local model folder (config.json missing); MLX runs need local weights")
    return model_path


def stage_data(config: RunConfig, stage: MlxStageConfig, tokenizer: Any, template: str) -> Prepared:
    """One stage's SFT data through toolset's preparation (tokenized, loss-masked, over-long rows per policy)."""
    if not stage.datasets:
        raise ToolsetError(f"stage {stage.name} has no datasets (train.mlx.stages[].datasets or dataset.sft)")
    return prepare(
        "sft",
        config,
        tokenizer,
        files=stage.datasets,
        name=f"stage {stage.name}",
        template=template,
        mask_prompt=config.train.mlx.mask_prompt,
    )


def describe(config: RunConfig, options: MlxTrainOptions | None = None) -> list[str]:
    """What a run would do, for ``--dry-run``: model, template, and each chosen stage's data; loads no weights."""
    options = options or MlxTrainOptions()
    stages = stages_of(config)
    chosen = select_stages(stages, options.stage)
    model_path = _local_model(config)
    tokenizer, template, note = _template(config, model_path)
    mlx = config.train.mlx
    lines = [
        f"method: mlx-lora ({mlx.fine_tune_type}, rank {config.lora.r}, scale {mlx.scale}, {mlx.num_layers} layers, "
        f"batch {mlx.batch_size})    model: {config.model.name} ({model_path})",
        note,
    ]
    for index in chosen:
        stage = stages[index]
        stats = stage_data(config, stage, tokenizer, template).stats
        lines.append(
            f"stage {index + 1}/{len(stages)} {stage.name}: {stats['conversations']} conversations, "
            f"{stats['duplicates']} duplicates, {stats['too_long']} over {stats['max_length']} tokens; "
            f"train {stats['train']}, eval {stats['eval']}; tokens per example {stats['tokens']['min']}-"
            f"{stats['tokens']['max']}; {stage.iterations} iterations, lr {stage.learning_rate} "
            f"({schedule_text(config, options)})"
        )
    return lines


def schedule_text(config: RunConfig, options: MlxTrainOptions) -> str:
    """The learning-rate schedule a stage follows, in words (the options override the config)."""
    schedule = options.lr_schedule or config.train.mlx.lr_schedule
    warmup = config.train.mlx.warmup_steps if options.warmup_steps is None else options.warmup_steps
    return f"{schedule}{f' after {warmup} warm-up steps' if warmup else ''}"


def _finished(run_dir: Path, stages: list[MlxStageConfig], chosen: list[int]) -> list[int]:
    """The leading chosen stages whose adapters a previous attempt wrote (a stage's folder appears complete)."""
    done = []
    for index in chosen:
        if not (run_dir / "stages" / stages[index].name / ADAPTER_FILE).is_file():
            break
        done.append(index)
    return done


def train_mlx(
    config: RunConfig,
    run_dir: Path | None,
    options: MlxTrainOptions | None = None,
    *,
    echo: Echo = print,
    parent: Path | None = None,
    resume: bool = False,
) -> Path:
    """Run the selected stages; returns ``final_model`` (the last stage's adapters and the tokenizer with the
    training chat template).

    ``parent``: an earlier mlx-lora run whose ``final_model`` adapters the first stage starts from (unless
    ``options.resume_adapter`` names others); it is recorded in ``lineage.json``. ``resume``: stages whose
    adapters ``run_dir/stages/NAME`` already holds are not trained again.
    """
    from toolset.runs.launch import world_size

    options = options or MlxTrainOptions()
    if world_size() > 1:
        raise ToolsetError("mlx-lora trains in one process: drop --num-processes")
    stages = stages_of(config)
    chosen = select_stages(stages, options.stage)
    model_path = _local_model(config)
    if parent is not None and options.resume_adapter is None:
        adapters = Path(parent) / "final_model"
        if not (adapters / ADAPTER_FILE).is_file():
            raise ToolsetError(
                f"parent run {parent}: no {ADAPTER_FILE} in its final_model; mlx-lora continues only an mlx-lora "
                "adapter (put mlx-lora first in train.stages)"
            )
        options = attrs.evolve(options, resume_adapter=str(adapters))
    tokenizer, template, note = _template(config, model_path)
    trained_on = sorted({path for index in range(chosen[-1] + 1) for path in stages[index].datasets})
    for index in chosen:
        missing = [path for path in stages[index].datasets if not Path(path).is_file()]
        if missing:
            raise ToolsetError(f"stage {stages[index].name}: dataset {missing[0]} not found")
    detail = engine_detail()
    run_dir = prepare_run(
        config,
        run_dir=run_dir,
        datasets=trained_on,
        parent=parent,
        method="mlx-lora",
        extra={
            "engine": "mlx-lm",
            "engine_detail": detail,
            "chat_template": note,
            "stages": [stage.name for stage in stages],
            "stages_run": [stages[index].name for index in chosen],
            "resume_adapter": options.resume_adapter,
        },
    )
    log = RunLog(run_dir, echo)
    mlx = config.train.mlx
    log(f"method: mlx-lora ({mlx.fine_tune_type}, rank {config.lora.r}, scale {mlx.scale}, {mlx.num_layers} layers)")
    log(f"model: {config.model.name} ({model_path})")
    log(f"engine: {detail}")
    log(note)
    previous: Path | None = Path(options.resume_adapter) if options.resume_adapter else None
    if previous is not None and not (previous / ADAPTER_FILE).is_file():
        raise ToolsetError(f"resume_adapter {previous}: no {ADAPTER_FILE} there")
    if previous is None and chosen[0] > 0:
        earlier = run_dir / "stages" / stages[chosen[0] - 1].name
        if not (earlier / ADAPTER_FILE).is_file():
            raise ToolsetError(
                f"stage {stages[chosen[0]].name} starts from stage {stages[chosen[0] - 1].name}'s adapters, "
                f"but {earlier / ADAPTER_FILE} does not exist: run that stage first or give resume_adapter"
            )
        previous = earlier
    finished = _finished(run_dir, stages, chosen) if resume else []
    if finished:
        previous = run_dir / "stages" / stages[finished[-1]].name
        log(f"resuming: stage(s) {', '.join(stages[i].name for i in finished)} done earlier")
    if previous is not None:
        log(f"starting from adapters in {previous}")
    write = _metrics_writer(MetricsLog(run_dir), log)
    started = time.perf_counter()
    tool_offer = None
    for index in chosen[len(finished) :]:
        stage = stages[index]
        data = stage_data(config, stage, tokenizer, template)
        for finding in data.findings:
            log(f"warning: {finding.message}" + (f" ({finding.source}:{finding.line})" if finding.source else ""))
        stats = data.stats
        tool_offer = stats["tool_offer"]
        log(
            f"stage {index + 1}/{len(stages)} {stage.name}: {stats['conversations']} conversations, "
            f"{stats['duplicates']} duplicates, {stats['too_long']} over {stats['max_length']} tokens; "
            f"train {stats['train']}, eval {stats['eval']}; {stage.iterations} iterations, lr {stage.learning_rate} "
            f"({schedule_text(config, options)})"
        )
        log(f"{'step':>6} {'epoch':>6} {'loss':>9} {'lr':>10} {'tok/s':>8} {'peak MB':>9}")
        previous = train_adapter(
            model_path,
            data.train,
            data.eval,
            run_dir / "stages" / stage.name,
            lora=config.lora,
            mlx=mlx,
            iterations=stage.iterations,
            learning_rate=stage.learning_rate,
            max_seq_length=stats["max_length"],
            stage=stage.name,
            resume_from=previous,
            chat_template=template,
            seed=config.train.seed + index,
            lr_schedule=options.lr_schedule or mlx.lr_schedule,
            warmup_steps=mlx.warmup_steps if options.warmup_steps is None else options.warmup_steps,
            step_offset=sum(stages[i].iterations for i in range(index)),
            emit=write,
        )
        if options.test_prompts:
            test_stage(model_path, previous, stage.name, options, run_dir, template, log)
    final = run_dir / "final_model"
    with atomic_directory(final, overwrite=True) as staging:
        for name in (ADAPTER_FILE, "adapter_config.json"):
            shutil.copy2(previous / name, staging / name)
        tokenizer.chat_template = template
        tokenizer.save_pretrained(str(staging))
        with atomic_file(staging / "toolset.json") as handle:
            json.dump(
                {
                    "method": "mlx-lora",
                    "base_model": config.model.name,
                    "base_model_dir": str(model_path),
                    "engine": "mlx-lm",
                    "fine_tune_type": mlx.fine_tune_type,
                    "stages": [stages[index].name for index in chosen],
                    "steps": sum(stages[index].iterations for index in chosen),
                    **({"tool_offer": tool_offer} if tool_offer else {}),
                },
                handle,
                indent=2,
            )
    png = plot_loss(run_dir)
    log(f"done: {len(chosen)} stage(s) in {time.perf_counter() - started:.0f} s; model {final}; loss curve {png}")
    return final


def test_stage(
    model_path: Path,
    adapter: Path,
    stage: str,
    options: MlxTrainOptions,
    run_dir: Path,
    template: str | None = None,
    log: Echo = print,
) -> None:
    """Generate an answer to each test prompt with the stage's adapters; log to ``logs/test_STAGE.jsonl``."""
    from mlx_lm import generate

    model, tokenizer = load_model(model_path, adapter_path=adapter, chat_template=template)
    path = run_dir / "logs" / f"test_{stage}.jsonl"
    with open(path, "a", encoding="utf-8") as handle:
        for prompt in options.test_prompts:
            text = tokenizer._tokenizer.apply_chat_template(
                [{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=False
            )
            answer = generate(model, tokenizer, prompt=text, max_tokens=options.max_test_tokens, verbose=False)
            handle.write(json.dumps({"stage": stage, "prompt": prompt, "answer": answer}) + "\n")
            log(f"{stage} test: {prompt!r} -> {answer[:200]!r}")
