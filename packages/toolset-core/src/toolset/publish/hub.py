"""``toolset upload``: push a run's adapter, merged model and GGUF files to the Hugging Face Hub with a
generated model card. The token comes from HF_TOKEN, a ``.env`` file or the hub login, and is never
printed nor written anywhere.

Repositories: the adapter goes to REPO_ID, the merged model to REPO_ID-merged, GGUF files to REPO_ID-GGUF.
A run folder holds ``final_model/`` (adapter), ``exports/merged/`` and ``exports/gguf/*.gguf``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import attrs
import yaml

from toolset.errors import ToolsetError

TOKEN_VARIABLES = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")


@attrs.define
class UploadPlan:
    """One repository to create and the files that go into it."""

    kind: str
    repo_id: str
    folder: Path
    files: list[tuple[str, int]]
    card: str


def _dotenv_token(path: Path) -> str | None:
    if not path.is_file():
        return None
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        key, sep, value = line.strip().removeprefix("export ").partition("=")
        if sep and key.strip() in TOKEN_VARIABLES:
            return value.strip().strip("'\"") or None
    return None


def find_token(dotenv: Path = Path(".env")) -> str | None:
    """HF_TOKEN (or HUGGING_FACE_HUB_TOKEN), then a ``.env`` file, then the token saved by ``hf auth login``."""
    for variable in TOKEN_VARIABLES:
        if os.environ.get(variable):
            return os.environ[variable]
    token = _dotenv_token(dotenv)
    if token:
        return token
    try:
        from huggingface_hub import get_token
    except ImportError:
        return None
    return get_token()


def _read(path: Path) -> Any:
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8")
    return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)


def _latest_eval(run_dir: Path) -> dict[str, Any] | None:
    reports = (
        sorted((run_dir / "eval").glob("*.json"), key=lambda p: p.stat().st_mtime)
        if (run_dir / "eval").is_dir()
        else []
    )
    for report in reversed(reports):
        data = _read(report)
        if isinstance(data, dict) and "summary" in data:
            return {"file": report.name, "summary": data["summary"]}
    return None


def model_card(run_dir: Path, kind: str, repo_id: str) -> str:
    """A README.md for the Hub: base model, datasets, training config, lineage and the latest eval summary."""
    config = _read(run_dir / "config.yaml") or {}
    lineage = _read(run_dir / "lineage.json") or {}
    base = lineage.get("base_model") or config.get("model", {}).get("name", "unknown")
    datasets = lineage.get("datasets", [])
    header = {
        "base_model": base,
        "library_name": {"adapter": "peft", "merged": "transformers", "gguf": "gguf"}[kind],
        "tags": ["toolset", "tool-calling", "mcp", *(["gguf"] if kind == "gguf" else [])],
    }
    lines = ["---", yaml.safe_dump(header, sort_keys=False).strip(), "---", "", f"# {repo_id.split('/')[-1]}", ""]
    lines.append(
        f"Fine-tuned from `{base}` with [toolset](https://pypi.org/project/toolset-core/) to call tools "
        f"reliably ({kind})."
    )
    if datasets:
        lines += ["", "## Datasets", "", "| file | sha256 |", "| --- | --- |"]
        lines += [f"| {d.get('path', d)} | `{d.get('sha256', '')[:16]}` |" for d in datasets if isinstance(d, dict)]
    evaluation = _latest_eval(run_dir)
    if evaluation:
        lines += ["", "## Evaluation", "", f"Latest report `{evaluation['file']}`:", "", "```json"]
        lines += [json.dumps(evaluation["summary"], indent=2), "```"]
    if config:
        lines += [
            "",
            "## Training configuration",
            "",
            "```yaml",
            yaml.safe_dump(config, sort_keys=False).strip(),
            "```",
        ]
    if lineage:
        lines += ["", "## Lineage", "", "```json", json.dumps(lineage, indent=2), "```"]
    return "\n".join(lines) + "\n"


def plan_upload(run_dir: Path, repo_id: str, what: tuple[str, ...] = ("adapter", "merged", "gguf")) -> list[UploadPlan]:
    """What ``toolset upload`` would push, without contacting the Hub."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ToolsetError(f"{run_dir}: run folder not found")
    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise ToolsetError(f"repository id {repo_id!r} must look like OWNER/NAME")
    places = {
        "adapter": (run_dir / "final_model", repo_id),
        "merged": (run_dir / "exports" / "merged", f"{repo_id}-merged"),
        "gguf": (run_dir / "exports" / "gguf", f"{repo_id}-GGUF"),
    }
    plans = []
    for kind in what:
        folder, target = places[kind]
        if not folder.is_dir():
            continue
        pattern = "*.gguf" if kind == "gguf" else "*"
        files = sorted(
            (path.name, path.stat().st_size)
            for path in folder.glob(pattern)
            if path.is_file() and not path.name.startswith(".")
        )
        if files:
            plans.append(UploadPlan(kind, target, folder, files, model_card(run_dir, kind, target)))
    if not plans:
        raise ToolsetError(f"{run_dir}: nothing to upload (no final_model/, exports/merged/ or exports/gguf/*.gguf)")
    return plans


def upload(plans: list[UploadPlan], *, private: bool = True, token: str | None = None) -> list[str]:
    """Create each repository and upload its files and card; returns the repository URLs."""
    from huggingface_hub import HfApi

    token = token or find_token()
    if not token:
        raise ToolsetError("no Hugging Face token: set HF_TOKEN, put it in a .env file, or run `hf auth login`")
    api = HfApi(token=token)
    urls = []
    for plan in plans:
        try:
            url = api.create_repo(plan.repo_id, private=private, exist_ok=True)
            api.upload_folder(
                repo_id=plan.repo_id,
                folder_path=plan.folder,
                allow_patterns=[name for name, _size in plan.files],
                commit_message=f"toolset: upload {plan.kind}",
            )
            api.upload_file(path_or_fileobj=plan.card.encode(), path_in_repo="README.md", repo_id=plan.repo_id)
        except Exception as exc:  # network and permission problems become messages, with no token in them
            message = str(exc).replace(token, "***")
            raise ToolsetError(f"upload to {plan.repo_id} failed: {type(exc).__name__}: {message}") from None
        urls.append(str(url))
    return urls
