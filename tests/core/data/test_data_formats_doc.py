"""docs/data-formats.md lists every finding code the reader reports, with the severity it reports it at."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import toolset.data.readers

DOC = Path(__file__).parents[3] / "docs" / "data-formats.md"


def reported_codes() -> dict[str, str]:
    """``report("code", …, severity=…)`` calls in readers.py (severity defaults to ``warning``)."""
    tree = ast.parse(Path(toolset.data.readers.__file__).read_text())
    codes: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "report":
            first = node.args[0]
            assert isinstance(first, ast.Constant), ast.dump(first)  # codes are literals, so they can be listed
            severity = next((k.value.value for k in node.keywords if k.arg == "severity"), "warning")
            assert codes.setdefault(first.value, severity) == severity, first.value
    return codes


def test_every_reader_code_is_documented_with_its_severity():
    codes = reported_codes()
    assert len(codes) >= 17
    documented = dict(re.findall(r"^\| `([a-z_]+\.[a-z_0-9]+)` \| (\w+) \|", DOC.read_text(), re.M))
    assert documented == codes
