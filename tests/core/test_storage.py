"""Atomic artefacts: an interrupted write never leaves something that looks complete."""

import pytest

from toolset.errors import ToolsetError
from toolset.runs.storage import atomic_directory, atomic_file


def test_atomic_directory_appears_only_on_success(tmp_path):
    target = tmp_path / "final_model"
    with pytest.raises(RuntimeError), atomic_directory(target) as staging:
        (staging / "weights.bin").write_bytes(b"half")
        raise RuntimeError("interrupted")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []
    with atomic_directory(target) as staging:
        (staging / "weights.bin").write_bytes(b"whole")
    assert (target / "weights.bin").read_bytes() == b"whole"


def test_atomic_directory_refuses_or_replaces_existing(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "old").write_text("old")
    with pytest.raises(ToolsetError, match="already exists"), atomic_directory(target):
        pass
    with atomic_directory(target, overwrite=True) as staging:
        (staging / "new").write_text("new")
    assert [p.name for p in target.iterdir()] == ["new"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_atomic_file(tmp_path):
    target = tmp_path / "metrics.json"
    target.write_text("previous")
    with pytest.raises(KeyboardInterrupt), atomic_file(target) as handle:
        handle.write("partial")
        raise KeyboardInterrupt
    assert target.read_text() == "previous"
    with atomic_file(target) as handle:
        handle.write("complete")
    assert target.read_text() == "complete"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]
