"""toolset as a library: validate -> SFT -> KTO -> merge -> GGUF -> evaluate, in one script.

    python examples/scripts/train_and_evaluate.py --steps 16 --output runs/example

Runs on the embedded SmolLM2-135M-Instruct by default (``--preset tiny``: CPU, no downloads). Give your own
data with ``--sft FILE`` / ``--kto FILE`` (default: the Claudesidian samples bundled with toolset-core).
Everything lands under ``--output``: ``sft/``, ``kto/`` (run folders), ``merged/``, ``gguf/``, ``ollama/``,
``eval-base/``, ``eval-tuned/`` and ``loss.png``. Needs ``pip install "toolset-core[all]"``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import attrs


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=Path("runs/train-and-evaluate"), help="Folder for everything.")
    parser.add_argument("--steps", type=int, default=16, help="SFT steps (KTO runs a quarter of them, at least 1).")
    parser.add_argument("--kto-steps", type=int, help="KTO steps (default: --steps / 4).")
    parser.add_argument("--eval-cases", type=int, default=8, help="Cases of the claudesidian-smoke prompt set.")
    parser.add_argument("--preset", default="tiny", help="Config preset (tiny, 3b, 7b, 13b, 20b).")
    parser.add_argument("--sft", type=Path, help="SFT data (default: the bundled Claudesidian sample).")
    parser.add_argument("--kto", type=Path, help="KTO data (default: the bundled Claudesidian sample).")
    return parser.parse_args(argv)


def validate(files: list[Path]) -> None:
    """Check every tool call against the tool set's JSON Schemas; stop on errors (warnings are shown)."""
    from toolset_schemas.validator import render, validate_files

    report = validate_files(files, toolset="claudesidian")
    for line in render(report):
        print(line)
    if report.has_errors:
        sys.exit("the data has errors: fix them (see docs/validate.md) and run again")


def train(method: str, config, run_dir: Path, parent: Path | None = None) -> Path:
    """One training stage; a finished stage is kept, an interrupted one resumes from its last checkpoint."""
    from toolset_cuda import training

    if (run_dir / "final_model").is_dir():
        print(f"{method}: already trained in {run_dir}")
        return run_dir
    plan = training.plan_run(method, config)
    result = training.train(
        method, config, run_dir=run_dir, parent=parent, plan=plan, resume=(run_dir / "lineage.json").exists()
    )
    losses = [row["loss"] for row in result.metrics if "loss" in row]
    print(f"{method}: {result.steps} steps with {result.engine}, loss {losses[0]:.3f} -> {losses[-1]:.3f}")
    return result.run_dir


def evaluate(gguf: Path, folder: Path, cases: int) -> dict:
    """Score a GGUF model with llama.cpp on the smoke prompt set; returns the report."""
    from toolset_eval.commands import run_command

    args = ["--backend", "llamacpp", "--prompt-set", "claudesidian-smoke", "--limit", str(cases)]
    args += ["--concurrency", "1", "--no-progress", "--output", str(folder)]
    # The bundled data trains without tool definitions in the prompt: evaluate the same way.
    args += ["--tools", "none", "--option", f"model_path={gguf}", "--option", "n_ctx=8192"]
    if (folder / "records.jsonl").exists():
        args.append("--resume")
    run_command.main(args=args, prog_name="toolset eval run", standalone_mode=False)
    return json.loads((folder / "report.json").read_text())


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    from toolset.builtins.exporters import export_gguf
    from toolset.config import load_config
    from toolset.data.readers import sample_path
    from toolset.publish.local_apps import OllamaConfig, export_ollama, ollama_create_command
    from toolset.runs import plot_loss
    from toolset.runs.quickstart import accuracy_table
    from toolset.weights.gguf_export import GGUFExportConfig

    output: Path = args.output.resolve()
    output.mkdir(parents=True, exist_ok=True)
    sft_data = args.sft or sample_path("claudesidian_sft.jsonl")
    kto_data = args.kto or sample_path("claudesidian_kto.jsonl")
    kto_steps = args.kto_steps or max(1, args.steps // 4)

    print("== 1. validate")
    validate([sft_data, kto_data])

    print("== 2. train SFT, then KTO from the SFT adapter")
    config = load_config(
        preset=args.preset,
        overrides=[
            f"dataset.sft=[{sft_data}]",
            f"dataset.kto=[{kto_data}]",
            f"train.sft.max_steps={args.steps}",
            f"train.kto.max_steps={kto_steps}",
        ],
    )
    from toolset_cuda.engine import prime

    prime(config)  # on an NVIDIA GPU with Unsloth: import it before transformers and TRL
    from toolset.weights.models import local_model_dir
    from toolset_cuda.exporters import MergedExportConfig, export_merged_16bit

    sft_dir = train("sft", config, output / "sft")
    kto_dir = train("kto", config, output / "kto", parent=sft_dir)

    print("== 3. merge the adapter, export GGUF (q8_0) and an Ollama Modelfile")
    merged = export_merged_16bit(kto_dir, output / "merged", MergedExportConfig(overwrite=True))
    gguf_config = GGUFExportConfig(out_type="q8_0", overwrite=True)
    base_gguf = export_gguf(local_model_dir(config.model), output / "gguf", attrs.evolve(gguf_config, name="base"))
    tuned_gguf = export_gguf(merged, output / "gguf", attrs.evolve(gguf_config, name="tuned"))
    verify = json.loads(Path(f"{tuned_gguf}.verify.json").read_text())
    print(f"{tuned_gguf}: {verify['detail']}")
    modelfile = export_ollama(tuned_gguf, output / "ollama", OllamaConfig(name="toolset-tuned"))
    print(f"Ollama: {ollama_create_command(modelfile, 'toolset-tuned')}")

    print("== 4. evaluate base and tuned with llama.cpp")
    for label, gguf in (("base", base_gguf), ("tuned", tuned_gguf)):
        summary = evaluate(gguf, output / f"eval-{label}", args.eval_cases)["summary"]
        print(f"{label}: {summary['passed']}/{summary['cases']} cases passed")

    print("== 5. summary")
    print(f"loss curve: {plot_loss([sft_dir, kto_dir], output / 'loss.png')}")
    print("\n".join(accuracy_table(output)))
    print(f"everything is under {output}")


if __name__ == "__main__":
    main()
