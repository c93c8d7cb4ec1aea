"""Regenerate the shipped prompt sets from the registered ``claudesidian`` tool set.

Usage: ``.venv/bin/python packages/toolset-eval/scripts/generate_prompt_sets.py [--toolset NAME]``
"""

from __future__ import annotations

import argparse
from pathlib import Path

import toolset
from toolset_eval.prompt_generation import generate, write_sets

DESTINATION = Path(__file__).resolve().parents[1] / "src" / "toolset_eval" / "prompt_sets"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--toolset", default="claudesidian")
    parser.add_argument("--output", type=Path, default=DESTINATION)
    args = parser.parse_args()
    component = toolset.get_toolset(args.toolset)
    catalog = component.factory(component.default_config())
    for path in write_sets(generate(catalog, args.toolset), args.output):
        print(path)


if __name__ == "__main__":
    main()
