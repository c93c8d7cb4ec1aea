"""``toolset quickstart``: the whole pipeline on the embedded SmolLM2-135M-Instruct, one clear line per stage.

Stages run through registered components and commands only (core imports no plugin), each is recorded in
``OUTPUT/state.json`` when done, and ``--resume`` skips finished stages. A stage whose component is not
installed (or not built yet) is reported as skipped, with the reason.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from toolset.errors import ToolsetError
from toolset.storage import atomic_file


class Quickstart:
    def __init__(self, root: click.Group, output: Path, resume: bool) -> None:
        self.root, self.output = root, output
        self.state_path = output / "state.json"
        self.state: dict[str, Any] = {}
        if resume and self.state_path.is_file():  # --resume on a fresh folder simply starts
            self.state = json.loads(self.state_path.read_text())
        elif self.state_path.exists() and not resume:
            raise ToolsetError(f"{output} holds an earlier quickstart: add --resume, or choose another --output")
        output.mkdir(parents=True, exist_ok=True)

    def save(self) -> None:
        with atomic_file(self.state_path) as handle:
            json.dump(self.state, handle, indent=2)

    def command(self, *path: str) -> click.Command | None:
        command: Any = self.root
        for name in path:
            command = command.commands.get(name) if isinstance(command, click.Group) else None
            if command is None:
                return None
        return command

    def invoke(self, path: tuple[str, ...], args: list[str]) -> int:
        command = self.command(*path)
        if command is None:
            raise ToolsetError(f"`toolset {' '.join(path)}` is not installed")
        try:
            command.main(args=args, prog_name=f"toolset {' '.join(path)}", standalone_mode=False)
        except SystemExit as exc:
            return int(exc.code or 0)
        except click.exceptions.Exit as exc:
            return exc.exit_code
        return 0

    def stage(self, number: int, name: str, run: Callable[[], str]) -> None:
        label = f"[{number}/7] {name}"
        done = self.state.get(name)
        if done:
            click.echo(f"{label}: done earlier - {done['result']}")
            return
        started = time.perf_counter()
        click.secho(f"{label} ...", bold=True)
        try:
            result = run()
        except _Skip as skip:
            click.echo(f"{label}: skipped - {skip}")
            return
        self.state[name] = {"result": result, "seconds": round(time.perf_counter() - started, 1)}
        self.save()
        click.echo(f"{label}: {result} ({self.state[name]['seconds']} s)")


class _Skip(Exception):
    """A stage that cannot run here, with the reason."""


def run_quickstart(root: click.Group, output: Path, resume: bool, eval_cases: int) -> None:
    from toolset.plugins import get_registries
    from toolset.readers import read_conversations, sample_path, summarize

    registries = get_registries()
    quick = Quickstart(root, output, resume)
    sft, kto = sample_path("claudesidian_sft.jsonl"), sample_path("claudesidian_kto.jsonl")

    def validate() -> str:
        findings: list = []
        counts = [sum(1 for _ in read_conversations(path, findings=findings)) for path in (sft, kto)]
        if quick.command("validate") is None:
            raise _Skip('the validator comes with toolset-schemas: pip install "toolset-core[schemas]"')
        status = quick.invoke(("validate",), [str(sft), str(kto)])
        if status != 0:
            raise ToolsetError("the bundled sample does not validate (see above)")
        return f"{counts[0]} SFT and {counts[1]} KTO conversations valid ({summarize(findings, sum(counts))})"

    def model() -> str:
        from toolset.models import embedded_model_dir

        return f"embedded SmolLM2-135M-Instruct as a Hugging Face folder: {embedded_model_dir()}"

    def train(method: str) -> Callable[[], str]:
        def run() -> str:
            if method not in registries.trainers:
                raise _Skip(registries.trainers.unknown_message(method))
            raise _Skip(f"trainer {method} is installed; the quickstart's training stage lands with the training issue")

        return run

    def export() -> str:
        from toolset.builtins.exporters import export_gguf
        from toolset.gguf_export import GGUFExportConfig
        from toolset.local_apps import OllamaConfig, export_ollama, ollama_create_command
        from toolset.models import embedded_model_dir

        source = quick.state.get("final_model", {}).get("result") or embedded_model_dir()
        gguf = export_gguf(
            Path(source), output / "gguf", GGUFExportConfig(out_type="q8_0", name="smollm2", overwrite=True)
        )
        modelfile = export_ollama(gguf, output / "ollama", OllamaConfig(family="chatml", name="smollm2"))
        report = json.loads(Path(str(gguf) + ".verify.json").read_text())
        return f"{gguf} ({report['detail']}); Ollama: {ollama_create_command(modelfile, 'toolset-smollm2')}"

    def evaluate() -> str:
        if quick.command("eval", "run") is None:
            raise _Skip('evaluation comes with toolset-eval: pip install "toolset-core[eval]"')
        gguf = output / "gguf" / "smollm2-q8_0.gguf"
        args = [
            "--backend",
            "llamacpp",
            "--prompt-set",
            "claudesidian-smoke",
            "--limit",
            str(eval_cases),
            "--concurrency",
            "1",
            "--output",
            str(output / "eval-base"),
            "--no-progress",
            "--option",
            f"model_path={gguf}",
            "--option",
            "n_ctx=8192",
        ]
        if (output / "eval-base" / "records.jsonl").exists():
            args.append("--resume")
        if quick.invoke(("eval", "run"), args) != 0:
            raise ToolsetError("evaluation failed (see above)")
        summary = json.loads((output / "eval-base" / "report.json").read_text())["summary"]
        return f"base model: {json.dumps(summary)[:300]}"

    quick.stage(1, "validate", validate)
    quick.stage(2, "model", model)
    quick.stage(3, "train-sft", train("sft"))
    quick.stage(4, "train-kto", train("kto"))
    quick.stage(5, "export", export)
    quick.stage(6, "evaluate", evaluate)
    quick.stage(7, "summary", lambda: f"artefacts under {output}")
    click.echo("")
    click.secho("Summary", bold=True)
    for name, done in quick.state.items():
        click.echo(f"  {name:<10} {done['result']}")
