"""The entry-point scan: the distributions on ``sys.path`` and their ``toolset`` entry points.

The ``*.dist-info`` / ``*.egg-info`` folders are read directly: importing importlib.metadata costs more than
the CLI's whole start-up budget for this. Like importlib.metadata, the first distribution of a name on the path
wins. Only the groups ``toolset`` and ``toolset.*`` are kept, and a file that never names ``toolset`` is not
parsed. A zip file on ``sys.path`` hands the work to importlib.metadata.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from collections.abc import Iterable
from typing import Any

GROUP_PREFIX = "toolset"
_SEPARATORS = re.compile(r"[-_.]+")
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0)


def normalize(name: str) -> str:
    """A distribution name as packaging compares it: lower case, each run of ``-``, ``_``, ``.`` as ``-``."""
    return _SEPARATORS.sub("-", name).lower()


class Distribution:
    """One distribution folder: normalized name, version from a ``NAME-VERSION.dist-info`` name, path.

    (Plain classes here: an attrs class costs start-up time to build.)
    """

    __slots__ = ("name", "path", "version")

    def __init__(self, name: str, version: str | None, path: str) -> None:
        self.name, self.version, self.path = name, version, path


class EntryPoint:
    """One line of an ``entry_points.txt``: the parts of importlib.metadata's EntryPoint that toolset uses."""

    __slots__ = ("dist", "group", "name", "value")

    def __init__(self, name: str, value: str, group: str, dist: Distribution) -> None:
        self.name, self.value, self.group, self.dist = name, value, group, dist

    def load(self) -> Any:
        """Import the module named by ``value`` and return it, or the attribute after its ``:``."""
        module, _, attribute = self.value.partition("[")[0].partition(":")
        found = importlib.import_module(module.strip())
        for part in filter(None, attribute.strip().split(".")):
            found = getattr(found, part)
        return found


class EntryPoints(list):
    """Entry points with importlib.metadata's ``select(group=...)``."""

    def select(self, *, group: str) -> list[Any]:
        return [entry_point for entry_point in self if entry_point.group == group]


class Installed:
    """What is installed on ``sys.path``, read on first use and kept until :meth:`clear`."""

    __slots__ = ("_distributions", "_entry_points", "_listed")

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        """Forget what was read (after ``sys.path`` changed, or between tests)."""
        self._listed = False
        self._distributions: dict[str, Distribution] | None = None
        self._entry_points: Any = None

    def distributions(self) -> dict[str, Distribution] | None:
        """Normalized name -> first distribution of that name on the path (folder names only, no file read);
        None when ``sys.path`` holds a zip file."""
        if not self._listed:
            self._distributions, self._listed = _list_distributions(), True
        return self._distributions

    def entry_points(self) -> Any:
        """The entry points of the groups ``toolset`` and ``toolset.*``, with ``select(group=...)``."""
        if self._entry_points is None:
            found = self.distributions()
            if found is None:
                import importlib.metadata

                self._entry_points = importlib.metadata.entry_points()
            else:
                self._entry_points = _read_entry_points(found.values())
        return self._entry_points


INSTALLED = Installed()


def _list_distributions() -> dict[str, Distribution] | None:
    found: dict[str, Distribution] = {}
    for entry in sys.path:
        folder = entry or "."
        try:
            names = os.listdir(folder)
        except NotADirectoryError:
            return None
        except OSError:
            continue
        for name in names:
            if not name.endswith(("dist-info", "egg-info")):
                continue
            stem, _, suffix = name.rpartition(".")
            if suffix not in ("dist-info", "egg-info"):
                continue
            base, _, rest = stem.partition("-")
            key = normalize(base)
            if key not in found:
                version = rest if suffix == "dist-info" and rest else None
                found[key] = Distribution(key, version, folder + os.sep + name)
    return found


def _read_entry_points(distributions: Iterable[Distribution]) -> EntryPoints:
    found = EntryPoints()
    needle = GROUP_PREFIX.encode()
    for dist in distributions:
        data = _read_file(dist.path + os.sep + "entry_points.txt")
        if data is None or needle not in data:
            continue
        group = ""
        for line in data.decode("utf-8", "replace").splitlines():
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            if line[0] == "[" and line[-1] == "]":
                group = line[1:-1].strip()
            elif "=" in line and (group == GROUP_PREFIX or group.startswith(GROUP_PREFIX + ".")):
                key, _, value = line.partition("=")
                found.append(EntryPoint(key.strip(), value.strip(), group, dist))
    return found


def _read_file(path: str) -> bytes | None:
    """The bytes of file ``path``, or None if it cannot be read (``os.open`` costs a third of ``open``)."""
    try:
        descriptor = os.open(path, _READ_FLAGS)
    except OSError:
        return None
    chunks = []
    try:
        while chunk := os.read(descriptor, 1 << 16):
            chunks.append(chunk)
    except OSError:
        return None
    finally:
        os.close(descriptor)
    return b"".join(chunks)
