"""The results table (docs/results.md): base, SFT and SFT+KTO on held-out evaluation cases, rung by rung.

    .venv/bin/python bench/bench_results.py --suite upstream            # ../shared's SFT then KTO parts
    .venv/bin/python bench/bench_results.py --suite policies            # the tool offer policies, side by side
    .venv/bin/python bench/bench_results.py --suite upstream --markdown  # print the tables of a finished run

Suites:
- ``upstream``: the embedded SmolLM2-135M trained on the four SFT parts of ../shared/upstream-data (then KTO on
  its ten KTO parts, continuing the SFT adapter), evaluated on claudesidian-coverage, -multistep and
  -irrelevance and on ../shared's tool_prompts.json and behaviour prompt set, none of them trained on (training
  conversations whose question is an evaluation case are left out, then that is checked, before anything trains).
- ``policies``: the quickstart's generated data trained with each tool offer policy (``dataset.tools``: none,
  used, distractors), the same steps each, evaluated on the shipped sets with the matching offer, base beside.

Everything lands under ``--output`` (default runs/results/SUITE): a run folder per training stage, a GGUF per
model, an eval folder per model and set, and ``results.json`` (one row per model: method, data, tool offer,
steps, training wall time, machine, seed, the ladder and full pass per set and per agent). Finished stages and
evaluations are kept, so an interrupted bench continues where it stopped.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import time
from pathlib import Path
from typing import Any

import attrs

REPO = Path(__file__).resolve().parents[1]
UPSTREAM = REPO.parent / "shared" / "upstream-data"
SHIPPED_SETS = ("claudesidian-coverage", "claudesidian-multistep", "claudesidian-irrelevance")
UPSTREAM_SETS = ("Evaluator/prompts/tool_prompts.json", "Evaluator/prompts/behavior_prompts_archived_20251202.json")
RUNGS = ("call", "tool", "schema", "context", "values", "pass")
LIMIT: int | None = None  # --limit: the first N cases of each set (a quick look, not a result)


@attrs.define
class Row:
    """One model of the table: how it was made and what it scored."""

    model: str
    method: str
    data: str
    tool_offer: str
    steps: int | None = None
    train_seconds: float | None = None
    train_tokens: int | None = None  # tokens through the model in training (load-independent cost)
    seed: int = 42
    gguf: str | None = None
    sets: dict[str, Any] = attrs.Factory(dict)


def machine() -> str:
    cpu = (
        next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if "model name" in line
            ),
            platform.processor() or platform.machine(),
        )
        if Path("/proc/cpuinfo").is_file()
        else platform.machine()
    )
    import torch

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{cpu}, {os.cpu_count()} CPUs, {device}, torch {torch.__version__}"


def upstream_files() -> tuple[list[Path], list[Path], list[Path]]:
    if not UPSTREAM.is_dir():
        sys.exit(f"the upstream data is absent ({UPSTREAM}): the upstream suite needs ../shared/upstream-data")
    sft = sorted((UPSTREAM / "Datasets" / "tools_datasets").glob("*/*.jsonl"))
    kto = sorted((UPSTREAM / "Datasets" / "behavior_datasets").glob("*/*.jsonl"))
    return sft, kto, [UPSTREAM / name for name in UPSTREAM_SETS]


def check_held_out(training: list[Path], sets: list[str | Path]) -> int:
    """No evaluation question may appear as a user turn of a training file (exits with the offending case)."""
    from toolset.data.readers import read_conversations
    from toolset_eval.prompts import load_prompt_set

    questions = {
        " ".join((message.content or "").split())
        for path in training
        for conversation in read_conversations(path)
        for message in conversation.messages
        if message.role == "user"
    }
    checked = 0
    for name in sets:
        for case in load_prompt_set(name).cases:
            checked += 1
            if " ".join(case.question.split()) in questions:
                sys.exit(f"evaluation case {case.id} of {name} is a training conversation: not held out")
    print(f"held out: none of the {checked} evaluation questions is in the {len(training)} training file(s)")
    return checked


def evaluation_questions(sets: list[str | Path]) -> set[str]:
    from toolset_eval.prompts import load_prompt_set

    return {" ".join(case.question.split()) for name in sets for case in load_prompt_set(name).cases}


def without_evaluation_cases(training: list[Path], sets: list[str | Path], folder: Path) -> tuple[list[Path], int]:
    """The training files with every conversation whose user turn is an evaluation question left out (copies
    under ``folder`` where any was; the file itself where none was), and how many lines were left out.
    ../shared's KTO parts hold 17 questions of its behaviour prompt set (34 lines)."""
    from toolset.data.readers import read_conversations

    questions = evaluation_questions(sets)
    kept, removed = [], 0
    for path in training:
        drop = {
            conversation.line
            for conversation in read_conversations(path)
            if any(
                message.role == "user" and " ".join((message.content or "").split()) in questions
                for message in conversation.messages
            )
        }
        if not drop:
            kept.append(path)
            continue
        lines = path.read_bytes().splitlines(keepends=True)
        copy = folder / path.parent.name / path.name
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_bytes(b"".join(line for number, line in enumerate(lines, 1) if number not in drop))
        print(f"left out of training: {len(drop)} line(s) of {path} whose question is an evaluation case")
        kept.append(copy)
        removed += len(drop)
    return kept, removed


def trained_tokens(run_dir: Path) -> int | None:
    """The tokens a run put through the model (its last metrics row's ``tokens_seen``)."""
    rows = [json.loads(line) for line in (run_dir / "logs" / "metrics.jsonl").read_text().splitlines() if line]
    return next((row["tokens_seen"] for row in reversed(rows) if "tokens_seen" in row), None)


def train_stage(method: str, config: Any, run_dir: Path, parent: Path | None = None) -> tuple[Path, int, float]:
    """Train (or reuse a finished run): the run folder, its steps and its training seconds. A run stopped and
    resumed (even in another session) counts each leg up to its last checkpoint, then the leg that finished."""
    from toolset_cuda import training

    info = run_dir / "final_model" / "toolset.json"
    legs_file = run_dir / "bench_legs.json"
    if not info.is_file():
        legs = json.loads(legs_file.read_text()) if legs_file.is_file() else []
        if legs and legs[-1]["ended"] is None:  # the last leg stopped: it counts up to its last checkpoint
            saved = [path.stat().st_mtime for path in (run_dir / "checkpoints").glob("*/")]
            legs[-1]["ended"] = max([legs[-1]["started"], *saved])
        resume = (run_dir / "lineage.json").exists()
        legs.append({"started": time.time(), "ended": None})
        run_dir.mkdir(parents=True, exist_ok=True)
        legs_file.write_text(json.dumps(legs))
        training.train(method, config, run_dir=run_dir, parent=parent, resume=resume)
        legs[-1]["ended"] = time.time()
        legs_file.write_text(json.dumps(legs))
        seconds = round(sum(leg["ended"] - leg["started"] for leg in legs), 1)
        (run_dir / "bench_seconds.json").write_text(json.dumps({"seconds": seconds, "legs": len(legs)}))
    steps = json.loads(info.read_text())["steps"]
    return run_dir, steps, json.loads((run_dir / "bench_seconds.json").read_text())["seconds"]


def export(run_dir: Path | None, config: Any, destination: Path, name: str) -> Path:
    """The model as a q8_0 GGUF: the base model itself, or base + the run's adapter merged."""
    from toolset.builtins.exporters import export_gguf
    from toolset.weights.gguf_export import GGUFExportConfig
    from toolset.weights.models import local_model_dir

    path = destination / f"{name}-q8_0.gguf"
    if path.is_file():
        return path
    source = local_model_dir(config.model)
    if run_dir is not None:
        from toolset_cuda.exporters import MergedExportConfig, export_merged_16bit

        source = export_merged_16bit(run_dir, destination / f"{name}-merged", MergedExportConfig(overwrite=True))
    return export_gguf(source, destination, GGUFExportConfig(out_type="q8_0", name=name, overwrite=True, verify=False))


def evaluate(row: Row, gguf: Path, sets: list[str | Path], output: Path, offer: str, distractors: int, max_tokens: int):
    from toolset_eval.evaluation import Evaluation
    from toolset_eval.evaluation import evaluate as run

    for prompt_set in sets:
        label = Path(str(prompt_set)).stem
        folder = output / re.sub(r"[^A-Za-z0-9_.-]+", "-", f"eval-{row.method}-{label}")
        if (folder / "report.json").is_file() and (folder / "done").is_file():
            report = json.loads((folder / "report.json").read_text())
        else:
            options = (f"model_path={gguf}", "n_ctx=8192", f"max_tokens={max_tokens}")
            evaluation = Evaluation(
                backend="llamacpp",
                prompt_set=str(prompt_set),
                output=folder,
                concurrency=1,
                resume=(folder / "records.jsonl").exists(),
                options=options,
                no_progress=True,
                offer_tools=offer,
                distractors=distractors,
                tools_trained=None if row.method.startswith("base") else trained_offer(row.tool_offer),
                limit=LIMIT,
            )
            started = time.perf_counter()
            report = run(evaluation).report
            (folder / "done").write_text(f"{time.perf_counter() - started:.1f}\n")
        overall = report["ladder"]["overall"]
        row.sets[label] = {
            "cases": report["summary"]["cases"],
            "ladder": {rung: overall[rung]["rate"] for rung in RUNGS},
            "by_agent": {agent: rungs["pass"]["rate"] for agent, rungs in report["ladder"]["by_agent"].items()},
            "by_agent_ladder": {
                agent: {rung: rungs[rung]["rate"] for rung in RUNGS}
                for agent, rungs in report["ladder"]["by_agent"].items()
            },
        }
        print(f"  {row.model} {row.method} on {label}: " + ", ".join(f"{r} {overall[r]['rate']:.0%}" for r in RUNGS))


def save(rows: list[Row], output: Path, meta: dict[str, Any]) -> Path:
    path = output / "results.json"
    path.write_text(json.dumps({"meta": meta, "rows": [attrs.asdict(row) for row in rows]}, indent=2) + "\n")
    return path


def base_config(preset: str, overrides: list[str]) -> Any:
    from toolset.config import load_config

    return load_config(None, preset=preset, overrides=overrides)


def run_upstream(args: argparse.Namespace, output: Path) -> tuple[list[Row], dict[str, Any]]:
    sft_files, kto_files, upstream_sets = upstream_files()
    sets: list[str | Path] = [*SHIPPED_SETS, *upstream_sets]
    sft_files, sft_removed = without_evaluation_cases(sft_files, sets, output / "data")
    kto_files, kto_removed = without_evaluation_cases(kto_files, sets, output / "data")
    check_held_out([*sft_files, *kto_files], sets)
    overrides = [
        f"dataset.sft=[{','.join(map(str, sft_files))}]",
        f"dataset.kto=[{','.join(map(str, kto_files))}]",
        f"dataset.tools={args.tools}",
        f"train.sft.max_steps={args.sft_steps}",
        f"train.kto.max_steps={args.kto_steps}",
        f"train.sft.save_steps={max(10, args.sft_steps // 6)}",
        f"model.max_seq_length={args.max_seq_length}",
        "dataset.eval_fraction=0",
        *args.set,
    ]
    config = base_config(args.preset, overrides)
    offer, distractors = trained_eval_offer(config)
    data = "../shared SFT parts (4 files)"
    seed = config.train.seed
    # every stage trains before anything is evaluated, so that the training times are measured on an idle machine
    sft_dir, steps, seconds = train_stage("sft", config, output / "sft")
    kto = train_stage("kto", config, output / "kto", parent=sft_dir) if args.kto_steps else None
    rows = [
        Row("smollm2-135m", "base", "-", offer, seed=seed),
        Row("smollm2-135m", "SFT", data, config.dataset.tools, steps, seconds, trained_tokens(sft_dir), seed),
    ]
    models: list[Path | None] = [None, sft_dir]
    if kto is not None:
        kto_dir, kto_steps, kto_seconds = kto
        rows.append(
            Row(
                "smollm2-135m",
                "SFT+KTO",
                data + " + KTO parts (10 files)",
                config.dataset.tools,
                steps + kto_steps,
                seconds + kto_seconds,
                (trained_tokens(sft_dir) or 0) + (trained_tokens(kto_dir) or 0) or None,
                config.train.seed,
            )
        )
        models.append(kto_dir)
    for row, run_dir, name in zip(rows, models, ["base", "sft", "kto"], strict=False):
        gguf = export(run_dir, config, output / "gguf", name)
        evaluate(row, gguf, sets, output, offer, distractors, args.max_tokens)
        save(rows, output, {"suite": "upstream", "sets": [Path(str(s)).stem for s in sets]})
    meta = {"sets": [Path(str(s)).stem for s in sets], "sft_steps": args.sft_steps, "kto_steps": args.kto_steps}
    return rows, meta | {"left_out_of_training": {"sft": sft_removed, "kto": kto_removed}}


def trained_offer(policy: str) -> str:
    """The evaluation offer that matches a training policy (``used`` -> ``expected``)."""
    from toolset.data.formatters import EVAL_OFFER

    return EVAL_OFFER.get(policy, policy)


def trained_eval_offer(config: Any) -> tuple[str, int]:
    from toolset.data.formatters import EVAL_OFFER

    return EVAL_OFFER[config.dataset.tools], config.dataset.tool_distractors


def run_policies(args: argparse.Namespace, output: Path) -> tuple[list[Row], dict[str, Any]]:
    from toolset.data.readers import sample_path

    sft = sample_path("quickstart_sft.jsonl")
    sets: list[str | Path] = list(SHIPPED_SETS)
    check_held_out([sft], sets)
    rows = []
    for policy in args.policies:
        overrides = [
            f"dataset.sft=[{sft}]",
            f"dataset.tools={policy}",
            f"train.sft.max_steps={args.sft_steps}",
            f"model.max_seq_length={args.max_seq_length}",
            *args.set,
        ]
        config = base_config(args.preset, overrides)
        offer, distractors = trained_eval_offer(config)
        folder = output / policy
        base = Row("smollm2-135m", "base", "-", offer, seed=config.train.seed)
        base.method = f"base ({offer})"
        evaluate(base, export(None, config, output / "gguf", "base"), sets, folder, offer, distractors, args.max_tokens)
        run_dir, steps, seconds = train_stage("sft", config, folder / "sft")
        row = Row(
            "smollm2-135m",
            "SFT",
            "quickstart_sft.jsonl",
            policy,
            steps,
            seconds,
            trained_tokens(run_dir),
            config.train.seed,
        )
        gguf = export(run_dir, config, folder / "gguf", "sft")
        evaluate(row, gguf, sets, folder, offer, distractors, args.max_tokens)
        rows += [base, row]
        if args.cross and args.cross != offer:  # the same model under the common offer: like against like
            cross = attrs.evolve(row, method=f"SFT, offered {args.cross}", sets={})
            evaluate(cross, gguf, sets, folder, args.cross, config.dataset.tool_distractors, args.max_tokens)
            rows.append(cross)
        save(rows, output, {"suite": "policies"})
    return rows, {"sets": list(SHIPPED_SETS), "sft_steps": args.sft_steps}


def _label(row: dict[str, Any]) -> str:
    """The method with the tool offer it was trained with, where the method does not already say it."""
    return (
        row["method"]
        if "(" in row["method"] or row["method"].startswith("base")
        else f"{row['method']} ({row['tool_offer']})"
    )


def markdown(result: dict[str, Any]) -> str:
    """The tables of a run: full pass and the ladder per set, then full pass per agent on each set."""
    rows = result["rows"]
    sets = result["meta"].get("sets") or list(dict.fromkeys(name for row in rows for name in row["sets"]))
    lines = ["| model | method | data | tools | steps | train time | " + " | ".join(sets) + " |"]
    lines.append("| --- | --- | --- | --- | ---: | ---: |" + " ---: |" * len(sets))
    for row in rows:
        time_text = f"{row['train_seconds'] / 60:.1f} min" if row["train_seconds"] else "-"
        cells = [f"{row['sets'][name]['ladder']['pass']:.0%}" if name in row["sets"] else "-" for name in sets]
        lines.append(
            f"| {row['model']} | {row['method']} | {row['data']} | {row['tool_offer']} | "
            f"{row['steps'] or '-'} | {time_text} | " + " | ".join(cells) + " |"
        )
    for name in sets:
        lines += ["", f"**{name}**: cases reaching each rung of the ladder", ""]
        lines.append("| model | method | " + " | ".join(RUNGS) + " |")
        lines.append("| --- | --- |" + " ---: |" * len(RUNGS))
        for row in rows:
            if name in row["sets"]:
                ladder = row["sets"][name]["ladder"]
                lines.append(
                    f"| {row['model']} | {_label(row)} | " + " | ".join(f"{ladder[r]:.0%}" for r in RUNGS) + " |"
                )
        agents = sorted({agent for row in rows if name in row["sets"] for agent in row["sets"][name]["by_agent"]})
        lines += ["", f"full pass per agent on {name}:", ""]
        lines.append("| model | method | " + " | ".join(agents) + " |")
        lines.append("| --- | --- |" + " ---: |" * len(agents))
        for row in rows:
            if name in row["sets"]:
                by_agent = row["sets"][name]["by_agent"]
                cells = [f"{by_agent[a]:.0%}" if a in by_agent else "-" for a in agents]
                lines.append(f"| {row['model']} | {_label(row)} | " + " | ".join(cells) + " |")
    meta = result["meta"]
    lines += ["", f"Machine: {meta.get('machine')}; seed {rows[0]['seed'] if rows else '-'}; {meta.get('date')}."]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", choices=["upstream", "policies"], required=True)
    parser.add_argument("--output", type=Path, help="default: runs/results/SUITE")
    parser.add_argument("--preset", default="quickstart", help="the training settings (default: the quickstart's)")
    parser.add_argument("--sft-steps", type=int, default=300, help="SFT steps (batch 1 in the quickstart preset)")
    parser.add_argument("--kto-steps", type=int, default=12, help="KTO steps after SFT (upstream suite; 0: none)")
    parser.add_argument("--tools", default="none", help="dataset.tools for the upstream suite")
    parser.add_argument("--policies", nargs="+", default=["none", "used", "distractors"])
    parser.add_argument(
        "--cross",
        default="distractors",
        help="policies suite: also evaluate every trained model with this offer (the same for all; '' for none)",
    )
    parser.add_argument("--max-seq-length", type=int, default=2048, help="longer training examples are left out")
    parser.add_argument("--max-tokens", type=int, default=512, help="answer length limit at evaluation")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="another config override")
    parser.add_argument("--markdown", action="store_true", help="print the tables of the finished run and stop")
    parser.add_argument("--limit", type=int, help="evaluate only the first N cases of each set (a trial run)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    global LIMIT
    args = parse_args(argv)
    LIMIT = args.limit
    output = (args.output or REPO / "runs" / "results" / args.suite).resolve()
    if args.markdown:
        print(markdown(json.loads((output / "results.json").read_text())), end="")
        return
    output.mkdir(parents=True, exist_ok=True)
    import datetime

    from toolset_cuda.engine import prime

    started = time.perf_counter()
    prime(base_config(args.preset, []))
    runner = run_upstream if args.suite == "upstream" else run_policies
    rows, meta = runner(args, output)
    meta.update(
        suite=args.suite,
        machine=machine(),
        date=datetime.date.today().isoformat(),
        command=" ".join(["bench/bench_results.py", *(argv if argv is not None else sys.argv[1:])]),
        bench_minutes=round((time.perf_counter() - started) / 60, 1),
    )
    path = save(rows, output, meta)
    print(f"\nwrote {path}\n")
    print(markdown(json.loads(path.read_text())), end="")


if __name__ == "__main__":
    main()
