"""``toolset upload``: dry run, model card, and the token never printed or written anywhere."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from toolset.errors import ToolsetError
from toolset.publish.hub import find_token, plan_upload

from .hub_server import LFS_THRESHOLD, LocalHub

SECRET = "hf_TESTSECRETtokenValue0123456789abcdef"


@pytest.fixture
def run_dir(tmp_path) -> Path:
    run = tmp_path / "runs" / "2026-11-22-smollm2"
    (run / "final_model").mkdir(parents=True)
    (run / "final_model" / "adapter_config.json").write_text('{"r": 8}')
    (run / "final_model" / "adapter_model.safetensors").write_bytes(b"\0" * 2048)
    (run / "exports" / "gguf").mkdir(parents=True)
    (run / "exports" / "gguf" / "smollm2-q8_0.gguf").write_bytes(b"GGUF" + b"\0" * 4096)
    (run / "exports" / "gguf" / "smollm2-q8_0.gguf.verify.json").write_text("{}")
    (run / "config.yaml").write_text("model:\n  name: HuggingFaceTB/SmolLM2-135M-Instruct\nlora:\n  r: 8\n")
    lineage = {
        "base_model": "HuggingFaceTB/SmolLM2-135M-Instruct",
        "datasets": [{"path": "sft.jsonl", "sha256": "ab" * 32}],
    }
    (run / "lineage.json").write_text(json.dumps(lineage))
    (run / "eval").mkdir()
    (run / "eval" / "report.json").write_text(json.dumps({"summary": {"accuracy": 0.82, "cases": 44}}))
    return run


def toolset(*args, env, cwd):
    return subprocess.run(
        [sys.executable, "-c", "from toolset.cli import main; main()", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=180,
    )


def isolated_env(tmp_path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    with socket.socket() as probe:  # a port nothing listens on: the "Hub" refuses every connection
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return {
        **os.environ,
        "HF_TOKEN": SECRET,
        "HOME": str(home),
        "HF_HOME": str(home / "hf"),
        "HF_ENDPOINT": f"http://127.0.0.1:{port}",
        "HF_HUB_ETAG_TIMEOUT": "2",
        "HF_HUB_DOWNLOAD_TIMEOUT": "2",
    }


def test_plan_lists_each_repository_and_card(run_dir):
    plans = {plan.kind: plan for plan in plan_upload(run_dir, "me/claudesidian-smol")}
    assert set(plans) == {"adapter", "gguf"}
    assert plans["adapter"].repo_id == "me/claudesidian-smol"
    assert plans["gguf"].repo_id == "me/claudesidian-smol-GGUF"
    assert [name for name, _ in plans["gguf"].files] == ["smollm2-q8_0.gguf"]
    card = plans["gguf"].card
    assert "base_model: HuggingFaceTB/SmolLM2-135M-Instruct" in card and "library_name: gguf" in card
    assert "| sft.jsonl | `abababababababab` |" in card
    assert '"accuracy": 0.82' in card and "lora:" in card


def test_bad_arguments_are_clear(run_dir, tmp_path):
    with pytest.raises(ToolsetError, match="must look like OWNER/NAME"):
        plan_upload(run_dir, "no-owner")
    empty = tmp_path / "empty-run"
    empty.mkdir()
    with pytest.raises(ToolsetError, match="nothing to upload"):
        plan_upload(empty, "me/x")


def test_token_sources(tmp_path, monkeypatch):
    for variable in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    dotenv = tmp_path / ".env"
    dotenv.write_text("OTHER=1\nexport HF_TOKEN='hf_from_dotenv'\n")
    assert find_token(dotenv) == "hf_from_dotenv"
    monkeypatch.setenv("HF_TOKEN", "hf_from_env")
    assert find_token(dotenv) == "hf_from_env"


def test_dry_run_and_failed_upload_never_leak_the_token(run_dir, tmp_path):
    env = isolated_env(tmp_path)
    dry = toolset("upload", str(run_dir), "me/claudesidian-smol", "--dry-run", env=env, cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert "adapter -> me/claudesidian-smol (2 files" in dry.stdout
    assert "gguf -> me/claudesidian-smol-GGUF (1 files" in dry.stdout
    assert "dry run: nothing uploaded" in dry.stdout
    real = toolset("upload", str(run_dir), "me/claudesidian-smol", env=env, cwd=tmp_path)
    assert real.returncode == 1
    assert "upload to me/claudesidian-smol failed" in real.stderr and "Traceback" not in real.stderr
    for result in (dry, real):
        assert SECRET not in result.stdout + result.stderr
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), f"the token was written to {path}"


def test_upload_end_to_end_to_a_local_hub(run_dir, tmp_path):
    """`toolset upload` against a local server speaking the Hub's API: repositories, bytes, cards, token."""
    big = run_dir / "exports" / "gguf" / "smollm2-q8_0.gguf"
    big.write_bytes(b"GGUF" + bytes(range(256)) * ((LFS_THRESHOLD + 4096) // 256))  # past the LFS threshold
    (run_dir / "final_model" / "README.md").write_text("---\nlibrary_name: peft\n---\n\nPEFT's own card.\n")
    with LocalHub(SECRET) as hub:
        env = {**isolated_env(tmp_path), "HF_ENDPOINT": hub.url, "HF_HUB_DISABLE_XET": "1"}
        result = toolset("upload", str(run_dir), "me/claudesidian-smol", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert hub.state.unexpected == []
    assert f"uploaded: {hub.url}/me/claudesidian-smol\n" in result.stdout
    assert f"uploaded: {hub.url}/me/claudesidian-smol-GGUF\n" in result.stdout

    repos = hub.state.repos
    assert set(repos) == {"me/claudesidian-smol", "me/claudesidian-smol-GGUF"}
    assert all(repo["private"] for repo in repos.values())
    adapter, gguf = repos["me/claudesidian-smol"]["files"], repos["me/claudesidian-smol-GGUF"]["files"]
    assert set(adapter) == {"adapter_config.json", "adapter_model.safetensors", "README.md"}
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        assert adapter[name] == (run_dir / "final_model" / name).read_bytes()
    assert set(gguf) == {"smollm2-q8_0.gguf", "README.md"}  # not the .verify.json beside it
    assert gguf["smollm2-q8_0.gguf"] == big.read_bytes()
    assert hashlib.sha256(big.read_bytes()).hexdigest() in hub.state.lfs  # went through Git LFS
    plans = {plan.kind: plan for plan in plan_upload(run_dir, "me/claudesidian-smol")}
    assert adapter["README.md"].decode() == plans["adapter"].card  # the generated card replaces PEFT's
    assert gguf["README.md"].decode() == plans["gguf"].card
    assert "library_name: gguf" in plans["gguf"].card and '"accuracy": 0.82' in plans["gguf"].card

    public = ("/_storage/", "/api/agent-harnesses")  # pre-signed storage URLs, and a public registry
    api_calls = [request for request in hub.state.requests if not request.path.startswith(public)]
    assert {request.path.split("/")[-2] for request in api_calls} >= {"repos", "preupload", "commit", "objects"}
    assert all(request.authorization == f"Bearer {SECRET}" for request in api_calls)
    storage = [request for request in hub.state.requests if request.path.startswith("/_storage/")]
    assert storage and all(request.authorization is None for request in storage)
    assert SECRET not in result.stdout + result.stderr
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), f"the token was written to {path}"


def test_upload_with_a_rejected_token_says_so_without_the_token(run_dir, tmp_path):
    with LocalHub("hf_another_token_entirely_0123456789") as hub:
        env = {**isolated_env(tmp_path), "HF_ENDPOINT": hub.url, "HF_HUB_DISABLE_XET": "1"}
        result = toolset("upload", str(run_dir), "me/claudesidian-smol", "--what", "gguf", env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert "upload to me/claudesidian-smol-GGUF failed" in result.stderr and "401" in result.stderr
    assert "Traceback" not in result.stderr and SECRET not in result.stdout + result.stderr
    assert hub.state.repos == {}
