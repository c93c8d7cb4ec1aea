"""Installed versions, read one way for every place that shows or records one."""

from __future__ import annotations

from toolset.plugins.entry_points import INSTALLED, normalize


def installed_version(distribution: str) -> str | None:
    """``distribution``'s installed version, or None if it is not installed.

    Read from its ``NAME-VERSION.dist-info`` folder name on ``sys.path`` (no file read, no import), else from
    importlib.metadata, which is slow to import and so is imported only then.
    """
    found = INSTALLED.distributions()
    dist = found.get(normalize(distribution)) if found is not None else None
    if dist is not None and dist.version:
        return dist.version
    import importlib.metadata

    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
