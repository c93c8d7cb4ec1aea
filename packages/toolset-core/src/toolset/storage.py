"""Writing artefacts so that an interrupted write never leaves something that looks complete."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from toolset.errors import ToolsetError

PARTIAL_MARK = ".partial-"


@contextlib.contextmanager
def atomic_directory(destination: Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a staging folder beside ``destination``; rename it into place only if the block succeeds."""
    destination = Path(destination)
    if destination.exists() and not overwrite:
        raise ToolsetError(f"{destination} already exists (use overwrite to replace it)")
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{destination.name}{PARTIAL_MARK}", dir=destination.parent))
    try:
        yield staging
        if destination.exists():
            old = destination.with_name(f".{destination.name}.old-{os.getpid()}")
            destination.rename(old)
            staging.rename(destination)
            shutil.rmtree(old, ignore_errors=True)
        else:
            staging.rename(destination)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


@contextlib.contextmanager
def atomic_file(destination: Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[object]:
    """Open a temporary file beside ``destination``; it replaces ``destination`` only on success."""
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{destination.name}{PARTIAL_MARK}", dir=destination.parent)
    os.close(descriptor)
    try:
        with open(temporary, mode, encoding=None if "b" in mode else encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, destination)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
