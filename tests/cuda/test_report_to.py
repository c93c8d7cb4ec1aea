"""``train.report_to``: real TensorBoard (tensorboardX) and W&B (offline mode, no network) logging from a real TRL run
on CPU — files inside the run directory, one W&B run per stage, the API key never written."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.cuda.conftest import toolset_cli, write_config

pytest.importorskip("trl")
pytest.importorskip("peft")
pytestmark = pytest.mark.slow

SECRET = "wandb-test-key-0123456789abcdef0123456789abcdef"


def invoke(*args: str):
    return CliRunner().invoke(toolset_cli(), list(args), catch_exceptions=False)


def scalar_tags(events: Path) -> set[str]:
    """The scalar tags in a TensorBoard event file (TFRecord framing: length, crc, Event protobuf, crc)."""
    from tensorboardX.proto.event_pb2 import Event

    tags, data = set(), events.read_bytes()
    offset = 0
    while offset < len(data):
        (length,) = struct.unpack_from("<Q", data, offset)
        event = Event.FromString(data[offset + 12 : offset + 12 + length])
        tags.update(value.tag for value in event.summary.value)
        offset += 12 + length + 4
    return tags


def test_tensorboard_events_land_in_the_run_directory(tiny_llama, tmp_path, monkeypatch):
    pytest.importorskip("tensorboardX")
    monkeypatch.delenv("TENSORBOARD_LOGGING_DIR", raising=False)
    config = write_config(tmp_path, tiny_llama, train={"report_to": ["tensorboard"]})
    result = invoke("train", "sft", str(config), "--run-dir", str(tmp_path / "sft"))
    assert result.exit_code == 0, result.output
    events = sorted((tmp_path / "sft" / "logs" / "tensorboard").glob("events.out.tfevents.*"))
    assert events, "no TensorBoard event file"
    tags = set().union(*(scalar_tags(path) for path in events))
    assert {"train/loss", "train/learning_rate", "train/grad_norm"} <= tags


def test_wandb_offline_one_run_per_stage_and_the_key_is_never_written(tiny_llama, tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_API_KEY", SECRET)
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.delenv("WANDB_DIR", raising=False)
    config = write_config(tmp_path, tiny_llama, train={"report_to": ["wandb"]})
    result = invoke("train", "sft", str(config), "--run-dir", str(tmp_path / "sft"))
    assert result.exit_code == 0, result.output
    result = invoke("train", "kto", str(config), "--run-dir", str(tmp_path / "kto"), "--parent", str(tmp_path / "sft"))
    assert result.exit_code == 0, result.output
    for stage in ("sft", "kto"):
        runs = list((tmp_path / stage / "logs" / "wandb").glob("offline-run-*"))
        assert len(runs) == 1, (stage, runs)
        assert list(runs[0].glob("run-*.wandb")), "no W&B run file"
    assert SECRET not in result.output
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


@pytest.mark.parametrize(
    ("trackers", "message"),
    [(["nope"], "unknown tracker 'nope'"), (["none"], "list trackers by name")],
)
def test_a_bad_tracker_is_refused_before_weights_load(tiny_llama, tmp_path, trackers, message):
    config = write_config(tmp_path, tiny_llama, train={"report_to": trackers})
    result = invoke("train", "sft", str(config), "--run-dir", str(tmp_path / "sft"))
    assert result.exit_code != 0 and message in result.output, result.output
    assert not (tmp_path / "sft" / "checkpoints").exists()


def test_wandb_without_credentials_is_said_in_the_plan(tiny_llama, tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    for variable in ("WANDB_API_KEY", "WANDB_MODE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    monkeypatch.setenv("HOME", str(tmp_path))
    config = write_config(tmp_path, tiny_llama, train={"report_to": ["wandb"]})
    result = invoke("train", "sft", str(config), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "W&B: no WANDB_API_KEY and no `wandb login` found" in result.output
