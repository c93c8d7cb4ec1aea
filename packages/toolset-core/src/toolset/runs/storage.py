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
    umask = os.umask(0)
    os.umask(umask)
    staging.chmod(0o777 & ~umask)  # mkdtemp's 0700 would make the final folder private
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


@contextlib.contextmanager
def atomic_path(destination: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``destination`` for a writer that opens files itself."""
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary = destination.with_name(f".{destination.name}{PARTIAL_MARK}{os.getpid()}")
    try:
        yield temporary
        os.replace(temporary, destination)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def check_free_space(folder: Path, needed_bytes: int, what: str) -> None:
    """Fail before writing when ``folder``'s disk cannot hold ``needed_bytes``."""
    existing = Path(folder).resolve()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    free = shutil.disk_usage(existing).free
    if free < needed_bytes:
        raise ToolsetError(
            f"not enough free disk for {what} in {folder}: needs about {needed_bytes / 2**30:.1f} GiB, "
            f"{free / 2**30:.1f} GiB free"
        )


@contextlib.contextmanager
def captured_native_output() -> Iterator[list[str]]:
    """Send what native libraries (llama.cpp) print on fd 1 and 2 to a buffer, returned as lines afterwards."""
    import sys

    lines: list[str] = []
    with tempfile.TemporaryFile(mode="w+b") as sink:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        saved = [os.dup(1), os.dup(2)]
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield lines
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for descriptor in saved:
                os.close(descriptor)
            sink.seek(0)
            lines.extend(sink.read().decode("utf-8", "replace").splitlines())
