"""SFT and KTO runs: plan (``--dry-run``), train with TRL, resume, and write the run directory.

Layout (``toolset.runs``): ``config.yaml``, ``lineage.json``, ``checkpoints/``, ``final_model/`` (adapter +
tokenizer with the training chat template, renamed into place only when complete), ``logs/metrics.jsonl``,
``logs/run.log`` and ``logs/loss.png``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs
from transformers import TrainerCallback
from transformers.trainer_callback import ProgressCallback

from toolset.config import RunConfig
from toolset.data.prepare import Example, Prepared, kto_weights, load_tokenizer, model_type, prepare
from toolset.errors import ToolsetError
from toolset.runs import MetricsLog, new_run_id, plot_loss, prepare_run
from toolset.runs.launch import rank, world_size
from toolset.runs.storage import atomic_directory, atomic_file, check_free_space
from toolset.weights.models import local_model_dir
from toolset_cuda import engine as engines
from toolset_cuda import reporting

Echo = Callable[[str], None]


@attrs.define
class Plan:
    """Everything decided before any weights load."""

    method: str
    config: RunConfig
    model_dir: Path
    engine: str
    engine_detail: str
    data: Prepared
    steps: int
    memory: dict[str, float]
    tokenizer: Any = None
    tracker_notes: list[str] = attrs.Factory(list)


@attrs.define
class TrainResult:
    run_dir: Path
    final_model: Path
    steps: int
    engine: str
    metrics: list[dict[str, Any]]


def _method_settings(config: RunConfig, method: str) -> Any:
    return getattr(config.train, method)


def plan_run(method: str, config: RunConfig, *, echo: Echo = print) -> Plan:
    """Load config, data and tokenizer, run the formatter; count tokens and steps; estimate memory."""
    tracker_notes = reporting.check(config.train.report_to)
    engine, detail = engines.choose_engine(config)
    model_dir = local_model_dir(config.model)
    if not (model_dir / "config.json").is_file():
        raise ToolsetError(f"{config.model.name}: no config.json in {model_dir}: not a Hugging Face model folder")
    tokenizer = load_tokenizer(model_dir, trust_remote_code=config.model.trust_remote_code)
    data = prepare(method, config, tokenizer, model_type=model_type(model_dir))
    settings = _method_settings(config, method)
    per_step = settings.per_device_batch_size * settings.gradient_accumulation_steps * world_size()
    steps = settings.max_steps or max(1, math.ceil(math.ceil(len(data.train) / per_step) * settings.epochs))
    seq = data.stats["tokens"].get("p95", config.model.max_seq_length)
    memory = engines.estimate(config, model_dir, method, seq)
    return Plan(method, config, model_dir, engine, detail, data, steps, memory, tokenizer, tracker_notes)


def describe(plan: Plan) -> list[str]:
    """The plan as lines for the console (``--dry-run`` prints these and the first example)."""
    stats = plan.data.stats
    tokens = stats["tokens"]
    lines = [
        f"method: {plan.method}    model: {plan.config.model.name} ({plan.model_dir})",
        f"engine: {plan.engine_detail}",
        plan.data.template_note,
        f"data: {stats['conversations']} conversations from {len(stats['files'])} file(s); "
        f"{stats['skipped']} skipped, {stats['duplicates']} duplicates, {stats['too_long']} over "
        f"{stats['max_length']} tokens; train {stats['train']}, eval {stats['eval']}",
        f"tokens per example: min {tokens.get('min')}, median {tokens.get('median')}, p95 {tokens.get('p95')}, "
        f"max {tokens.get('max')}; total {tokens.get('total')}",
    ]
    if "labels" in stats:
        lines.append(f"labels: {stats['labels']['desirable']} desirable, {stats['labels']['undesirable']} undesirable")
    settings = _method_settings(plan.config, plan.method)
    lines.append(
        f"steps: {plan.steps} (batch {settings.per_device_batch_size} x accumulation "
        f"{settings.gradient_accumulation_steps} x {world_size()} process(es)), lr {settings.learning_rate}"
    )
    if plan.memory:
        m = plan.memory
        lines.append(
            f"memory (rough): {m['total_gib']} GiB = weights {m['weights_gib']} + LoRA/optimizer "
            f"{m['lora_and_optimizer_gib']} + activations {m['activations_gib']} ({m['parameters_b']} B parameters)"
        )
    if "gguf" in plan.config.export.formats:
        from toolset.weights.gguf_export import export_problem

        problem = export_problem(plan.model_dir)
        lines.append(
            f"export: GGUF ({', '.join(plan.config.export.gguf_types)}) supported for this architecture"
            if problem is None
            else f"export: GGUF export is not possible, it would fail after training: {problem}. "
            "Take gguf out of export.formats (adapter and merged work for every model)"
        )
    return lines + plan.tracker_notes


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint (one whose trainer state was written), or None."""
    folder = Path(run_dir) / "checkpoints"
    found = []
    for path in folder.glob("checkpoint-*"):
        suffix = path.name.rsplit("-", 1)[-1]
        if suffix.isdigit() and (path / "trainer_state.json").is_file():
            found.append((int(suffix), path))
    return max(found)[1] if found else None


def resolve_run_dir(config: RunConfig, run_dir: Path | None, resume: bool) -> Path:
    if run_dir is None:
        run_dir = Path(config.output_dir) / (config.run_id or new_run_id(config))
    run_dir = Path(run_dir)
    holds_run = (run_dir / "lineage.json").exists() or (run_dir / "final_model").exists()
    # rank 0 decides: another rank that starts late may find the lineage.json rank 0 has just written
    if holds_run and not resume and rank() == 0:
        raise ToolsetError(
            f"{run_dir} already holds a run: add --resume to continue it, or choose another run_id / output_dir"
        )
    if resume and (run_dir / "final_model").is_dir():
        raise ToolsetError(f"{run_dir} is complete (final_model exists): nothing to resume")
    return run_dir


def train(
    method: str,
    config: RunConfig,
    *,
    run_dir: Path | None = None,
    parent: Path | None = None,
    resume: bool = False,
    echo: Echo = print,
    plan: Plan | None = None,
    callbacks: Sequence[Any] = (),
) -> TrainResult:
    """Train ``method`` ("sft" or "kto"); with ``parent`` (an SFT run dir) KTO continues that adapter.

    ``callbacks``: extra ``transformers.TrainerCallback`` objects (early stopping, custom logging...).
    """
    run_dir = resolve_run_dir(config, run_dir, resume)
    parent_adapter = None
    if parent is not None:
        parent_adapter = Path(parent) / "final_model"
        if not (parent_adapter / "adapter_config.json").is_file():
            raise ToolsetError(f"parent run {parent} has no final_model adapter (did it finish?)")
    plan = plan or plan_run(method, config, echo=echo)
    check_free_space(run_dir.parent if not run_dir.exists() else run_dir, _disk_needed(plan), "checkpoints")
    main = rank() == 0
    if main:
        prepare_run(
            config,
            run_dir=run_dir,
            datasets=plan.data.stats["files"],
            parent=parent,
            method=method,
            extra={
                "engine": plan.engine,
                "engine_detail": plan.engine_detail,
                "chat_template": plan.data.template_note,
                "data": plan.data.stats,
                "world_size": world_size(),
            },
        )
    log = _RunLog(run_dir if main else None, echo)
    for line in describe(plan):
        log(line)
    resume_from = latest_checkpoint(run_dir) if resume else None
    if resume:
        log(f"resuming from {resume_from}" if resume_from else "no checkpoint yet: starting from the beginning")

    _quiet_libraries()
    model, tokenizer, notes = engines.load_for_training(
        config, plan.model_dir, plan.engine, parent_adapter=parent_adapter
    )
    for note in notes:
        log(note)
    tokenizer.chat_template = plan.data.chat_template
    started = time.perf_counter()
    with reporting.tracking(config.train.report_to, run_dir, main=main):
        trainer = _build_trainer(method, plan, model, tokenizer, run_dir)
        trainer.add_callback(_MetricsCallback(MetricsLog(run_dir) if main else None, method, plan, log))
        for callback in callbacks:
            trainer.add_callback(callback)
        _quiet_progress(trainer)
        trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    steps = trainer.state.global_step
    if world_size() > 1:
        log(f"ranks agree: every process holds the same adapter (checksum {_check_ranks_agree(trainer.model)})")
    final = run_dir / "final_model"
    if main:
        with atomic_directory(final, overwrite=True) as staging:
            trainer.model.save_pretrained(str(staging), selected_adapters=[engines.ADAPTER])
            _flatten_adapter(staging)
            tokenizer.save_pretrained(str(staging))
            with atomic_file(staging / "toolset.json") as handle:
                json.dump(
                    {
                        "method": method,
                        "base_model": config.model.name,
                        "base_model_dir": str(plan.model_dir),
                        "engine": plan.engine,
                        "parent_run": str(parent) if parent else None,
                        "steps": steps,
                        "tool_offer": plan.data.stats["tool_offer"],
                    },
                    handle,
                    indent=2,
                )
        png = plot_loss(run_dir)
        log(f"done: {steps} steps in {time.perf_counter() - started:.0f} s; model {final}; loss curve {png}")
    _barrier()
    rows = MetricsLog(run_dir).rows() if main else []
    return TrainResult(run_dir, final, steps, plan.engine, rows)


def _flatten_adapter(folder: Path) -> None:
    """PEFT writes a non-default adapter into a sub-folder; keep the adapter at the top of final_model."""
    sub = folder / engines.ADAPTER
    if sub.is_dir() and not (folder / "adapter_config.json").exists():
        for item in sub.iterdir():
            item.rename(folder / item.name)
        sub.rmdir()


def _check_ranks_agree(model: Any) -> str:
    """All processes must end with identical trainable weights (DDP keeps them in step); raise if not."""
    import torch
    import torch.distributed as dist

    total = torch.zeros(2, dtype=torch.float64)
    for parameter in model.parameters():
        if parameter.requires_grad:
            data = parameter.detach().double().cpu()
            total += torch.stack([data.sum(), (data * data).sum()])
    if dist.is_available() and dist.is_initialized():
        device = "cuda" if dist.get_backend() == "nccl" else "cpu"
        gathered = [torch.zeros(2, dtype=torch.float64, device=device) for _ in range(dist.get_world_size())]
        dist.all_gather(gathered, total.to(device))
        if any(not torch.allclose(gathered[0].cpu(), other.cpu(), rtol=1e-9, atol=0) for other in gathered):
            raise ToolsetError(f"processes disagree on the trained weights: {[g.tolist() for g in gathered]}")
    return f"{total[0].item():.6e}/{total[1].item():.6e}"


def _barrier() -> None:
    if world_size() > 1:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.barrier()


def _disk_needed(plan: Plan) -> int:
    lora = plan.memory.get("lora_and_optimizer_gib", 0.05)
    keep = _method_settings(plan.config, plan.method).save_total_limit or 3
    return int((lora * (keep + 1) + 0.1) * 2**30)


class _RunLog:
    """Echo a line and append it to ``logs/run.log`` (rank 0 only)."""

    def __init__(self, run_dir: Path | None, echo: Echo) -> None:
        self.path = run_dir / "logs" / "run.log" if run_dir else None
        self.echo = echo if run_dir else (lambda _line: None)

    def __call__(self, line: str) -> None:
        self.echo(line)
        if self.path:
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")


def _common_args(plan: Plan, run_dir: Path) -> dict[str, Any]:
    config = plan.config
    settings = _method_settings(config, plan.method)
    device = engines.device_for(config)
    dtype = config.model.dtype
    on_cuda = device == "cuda"
    has_eval = bool(plan.data.eval) and bool(settings.eval_steps)
    checkpointing = settings.gradient_checkpointing and plan.engine != "unsloth"  # unsloth brings its own
    return {
        "output_dir": str(run_dir / "checkpoints"),
        "learning_rate": settings.learning_rate,
        "num_train_epochs": settings.epochs,
        "max_steps": settings.max_steps or -1,
        "per_device_train_batch_size": settings.per_device_batch_size,
        "per_device_eval_batch_size": settings.per_device_batch_size,
        "gradient_accumulation_steps": settings.gradient_accumulation_steps,
        "max_grad_norm": settings.max_grad_norm,
        "warmup_steps": max(0, round(settings.warmup_ratio * plan.steps)),
        "lr_scheduler_type": settings.lr_scheduler,
        "weight_decay": settings.weight_decay,
        "optim": settings.optimizer,
        "gradient_checkpointing": checkpointing,
        "logging_steps": settings.logging_steps,
        "logging_first_step": True,
        "save_strategy": "steps",
        "save_steps": settings.save_steps,
        "save_total_limit": settings.save_total_limit,
        "eval_strategy": "steps" if has_eval else "no",
        "eval_steps": settings.eval_steps if has_eval else None,
        "seed": config.train.seed,
        "data_seed": config.train.seed,
        "report_to": list(config.train.report_to) or "none",
        "run_name": reporting.run_name(run_dir),
        "use_cpu": device == "cpu",
        "bf16": on_cuda and dtype in ("bfloat16", "auto") and _bf16(),
        "fp16": on_cuda and (dtype == "float16" or (dtype == "auto" and not _bf16())),
        "include_num_input_tokens_seen": "non_padding",
        "dataloader_num_workers": 0,
        "ddp_backend": "gloo" if device == "cpu" and world_size() > 1 else None,
        "disable_tqdm": rank() != 0,
        "max_length": plan.data.stats["max_length"],
    }


def _bf16() -> bool:
    import torch

    return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())


def _quiet_libraries() -> None:
    """Our table and one progress bar are the console: no per-map dataset bars, no deprecation chatter."""
    import warnings

    import datasets

    datasets.disable_progress_bars()
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"transformers\..*")


def _trl_row(row: Any) -> dict[str, Any]:
    """An SFT :class:`Example` as TRL's tokenized row (labels come from our mask); a KTO row without ``_where``."""
    if isinstance(row, Example):
        return {"input_ids": row.input_ids, "assistant_masks": row.mask}
    return {k: v for k, v in row.items() if k != "_where"}


def _build_trainer(method: str, plan: Plan, model: Any, tokenizer: Any, run_dir: Path) -> Any:
    from datasets import Dataset

    def dataset(rows: list[Any]) -> Any:
        return Dataset.from_list([_trl_row(row) for row in rows]) if rows else None

    args = _common_args(plan, run_dir)
    train_rows, eval_rows = dataset(plan.data.train), dataset(plan.data.eval)
    if args["eval_strategy"] == "no":
        eval_rows = None
    if method == "sft":
        from trl import SFTConfig, SFTTrainer

        settings = plan.config.train.sft
        sft_args = SFTConfig(**args, packing=settings.packing, dataset_num_proc=None)
        return SFTTrainer(
            model=model, args=sft_args, train_dataset=train_rows, eval_dataset=eval_rows, processing_class=tokenizer
        )
    from trl import KTOConfig, KTOTrainer

    settings = plan.config.train.kto
    desirable, undesirable = kto_weights([row["label"] for row in plan.data.train])
    kto_args = KTOConfig(
        **args,
        beta=settings.beta,
        desirable_weight=settings.desirable_weight if settings.desirable_weight is not None else desirable,
        undesirable_weight=settings.undesirable_weight if settings.undesirable_weight is not None else undesirable,
        train_sampling_strategy="sequential",
        dataset_num_proc=None,
    )
    return KTOTrainer(
        model=model, args=kto_args, train_dataset=train_rows, eval_dataset=eval_rows, processing_class=tokenizer
    )


def _quiet_progress(trainer: Any) -> None:
    """Keep the progress bar, but print our metrics table instead of raw log dicts."""

    class _Bar(ProgressCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            return None

    if trainer.pop_callback(ProgressCallback) is not None:
        trainer.add_callback(_Bar())


def _peak_memory_mb() -> float:
    import torch

    if torch.cuda.is_available() and torch.cuda.is_initialized():
        return round(torch.cuda.max_memory_allocated() / 2**20, 1)
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


KTO_KEYS = ("rewards/", "logps/", "logits/", "kl", "count/")


class _MetricsCallback(TrainerCallback):
    """One ``logs/metrics.jsonl`` row and one table line per logging step (rank 0)."""

    def __init__(self, metrics: MetricsLog | None, stage: str, plan: Plan, log: _RunLog) -> None:
        self.metrics, self.stage, self.plan, self.log = metrics, stage, plan, log
        settings = _method_settings(plan.config, stage)
        self.samples_per_step = settings.per_device_batch_size * settings.gradient_accumulation_steps * world_size()
        self.last: tuple[float, int, int] | None = None

    def on_train_begin(self, args, state, control, **kwargs):
        self.last = (time.perf_counter(), state.global_step, int(state.num_input_tokens_seen or 0))
        self.log(f"{'step':>6} {'epoch':>6} {'loss':>9} {'lr':>10} {'grad_norm':>9} {'tok/s':>8} {'peak MB':>9}")

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        if self.metrics is None or not state.is_world_process_zero:
            return
        if "loss" not in logs and "eval_loss" not in logs:
            return
        now = time.perf_counter()
        tokens = int(state.num_input_tokens_seen or 0)
        then, last_step, last_tokens = self.last or (now, 0, 0)
        elapsed = max(now - then, 1e-9)
        row: dict[str, Any] = {
            "stage": self.stage,
            "step": state.global_step,
            "epoch": round(state.epoch or 0.0, 4),
        }
        if "loss" in logs:
            row.update(
                loss=logs["loss"],
                lr=logs.get("learning_rate"),
                grad_norm=logs.get("grad_norm"),
                tokens_per_s=round((tokens - last_tokens) / elapsed, 1),
                samples_per_s=round((state.global_step - last_step) * self.samples_per_step / elapsed, 3),
                peak_memory_mb=_peak_memory_mb(),
                tokens_seen=tokens,
            )
            row.update({k: v for k, v in logs.items() if k.startswith(KTO_KEYS)})
            self.last = (now, state.global_step, tokens)
        else:
            row.update({k: v for k, v in logs.items() if k.startswith("eval_")})
        self.metrics.write(row)
        if "loss" in row:
            self.log(
                f"{row['step']:>6} {row['epoch']:>6.2f} {row['loss']:>9.4f} {row['lr'] or 0:>10.2e} "
                f"{row['grad_norm'] or 0:>9.3f} {row['tokens_per_s']:>8.0f} {row['peak_memory_mb']:>9.0f}"
            )
        else:
            self.log(f"eval at step {row['step']}: loss {row.get('eval_loss')}")
