"""The code layout: toolset-core in sub-packages by concern, old module paths kept, documented imports working,
no module name repeated across distributions with another meaning."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import pytest

import toolset
from toolset._moved import MOVED

REPO = Path(__file__).resolve().parents[2]
CORE = REPO / "packages" / "toolset-core" / "src" / "toolset"
SUBPACKAGES = ("plugins", "data", "runs", "weights", "publish", "cli", "builtins")
TOP_MODULES = {"__init__", "__main__", "_moved", "hookspecs", "components", "config", "errors", "testing"}
# Names every plugin distribution may use for the same role: its hook module, its commands, its exporters,
# its error classes (each a subclass of toolset.errors.ToolsetError).
SHARED_ROLES = {"__init__", "plugin", "commands", "exporters", "errors"}


def test_core_is_grouped_into_sub_packages():
    top = {path.stem for path in CORE.glob("*.py")}
    assert top == TOP_MODULES, f"a new top-level module belongs in a sub-package: {sorted(top - TOP_MODULES)}"
    for name in SUBPACKAGES:
        assert (CORE / name / "__init__.py").is_file()
    doc = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    for name in SUBPACKAGES:
        assert f"`toolset.{name}`" in doc, f"docs/architecture.md does not describe toolset.{name}"


@pytest.mark.parametrize("old", sorted(MOVED))
def test_an_old_module_path_is_the_moved_module_itself(old):
    module = importlib.import_module(old)
    assert module is importlib.import_module(MOVED[old])
    assert module.__name__ == module.__spec__.name == MOVED[old]
    parent, _, leaf = old.rpartition(".")
    assert getattr(importlib.import_module(parent), leaf) is module


def test_old_documented_imports_still_work():
    from toolset.chat_templates import FAMILIES
    from toolset.cli_options import config_argument
    from toolset.data import prepare
    from toolset.formatters import FormatterConfig, deduplicate, kto_weights, split_rows
    from toolset.readers import read_conversations, sample_path
    from toolset.runs import storage
    from toolset.storage import atomic_directory, atomic_file

    assert deduplicate is prepare.deduplicate and kto_weights is prepare.kto_weights and split_rows
    assert atomic_directory is storage.atomic_directory and atomic_file is storage.atomic_file
    assert FAMILIES and config_argument and FormatterConfig and read_conversations and sample_path


def _documented_imports() -> list[str]:
    texts = [path.read_text(encoding="utf-8") for path in [*(REPO / "docs").glob("*.md"), REPO / "README.md"]]
    texts += [path.read_text(encoding="utf-8") for path in (REPO / "examples").rglob("*.py")]
    for notebook in (REPO / "examples").rglob("*.ipynb"):
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        texts += ["".join(cell["source"]) for cell in cells if cell["cell_type"] == "code"]
    found = set()
    for text in texts:
        found.update(re.findall(r"^\s*(from toolset(?:\.\w+)* import [\w, ]+)$", text, re.M))
        found.update(re.findall(r"`(from toolset(?:\.\w+)* import [\w, ]+)`", text))
    return sorted(found)


def test_the_docs_and_examples_import_toolset_as_written():
    imports = _documented_imports()
    assert len(imports) >= 10
    for statement in imports:
        exec(statement, {})


def test_all_public_names_resolve():
    for name in toolset.__all__:
        assert getattr(toolset, name) is not None, name


def test_no_module_name_means_two_things_across_distributions():
    owners: dict[str, set[str]] = {}
    for package in (REPO / "packages").iterdir():
        for path in (package / "src").glob("*/**/*.py"):
            owners.setdefault(path.stem, set()).add(package.name)
    repeated = {name for name, packages in owners.items() if len(packages) > 1}
    assert repeated <= SHARED_ROLES, f"one module name in several distributions: {sorted(repeated - SHARED_ROLES)}"
    test_folders = {path.name for path in (REPO / "tests").iterdir() if path.is_dir() and path.name != "__pycache__"}
    distributions = {package.name.removeprefix("toolset-") for package in (REPO / "packages").iterdir()}
    assert test_folders == distributions | {"examples"}


def test_the_command_runs_as_a_module_under_both_names():
    import subprocess
    import sys

    for module in ("toolset", "toolset.cli"):
        done = subprocess.run([sys.executable, "-m", module, "--version"], capture_output=True, text=True)
        assert done.returncode == 0 and done.stdout.startswith("toolset, version"), (module, done.stderr)
