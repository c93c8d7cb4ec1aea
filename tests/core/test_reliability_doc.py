"""docs/reliability.md stays in step with the tests: every test its table names exists."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "reliability.md"


def test_every_row_names_a_test_that_exists():
    rows = [line for line in DOC.read_text(encoding="utf-8").splitlines() if line.startswith("| ")][2:]
    assert len(rows) >= 10
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split(" | ")]
        assert len(cells) == 6, row
        assert re.fullmatch(r"(0|1|2|130)( / (0|1|2))?", cells[4]), row
        path, _, name = cells[5].strip("`").partition("::")
        tree = ast.parse((REPO / path).read_text(encoding="utf-8"))
        functions = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
        assert name in functions, f"docs/reliability.md names {cells[5]}, which does not exist"
