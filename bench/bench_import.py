"""Import-time benchmark: ``import toolset``, loading every plugin, and the CLI's start-up.

Run: .venv/bin/python bench/bench_import.py [--runs 20]
Each measurement is a fresh interpreter; the figures are medians (and best) over the runs. Goal: import <= 0.3 s.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

CASES = {
    "import toolset": "import toolset",
    "import toolset + load all plugins": "import toolset; from toolset import plugins; plugins.plugin_infos()",
    "import toolset.cli + plugin commands": "from toolset import cli, plugins; plugins.add_commands(cli.cli)",
}
TIMER = "import time; _t = time.perf_counter(); {code}; print(time.perf_counter() - _t)"


def measure(code: str, runs: int) -> list[float]:
    seconds = []
    for _ in range(runs):
        output = subprocess.run(
            [sys.executable, "-c", TIMER.format(code=code)], capture_output=True, text=True, check=True
        ).stdout
        seconds.append(float(output.strip().splitlines()[-1]))
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    measure("import toolset", 2)  # warm the file-system cache and .pyc files
    print(f"{'case':<40} {'median':>9} {'best':>9}")
    for name, code in CASES.items():
        seconds = measure(code, args.runs)
        print(f"{name:<40} {statistics.median(seconds):>8.3f}s {min(seconds):>8.3f}s")
    started = time.perf_counter()
    for _ in range(5):
        subprocess.run([sys.executable, "-m", "toolset.cli", "--version"], capture_output=True, check=True)
    print(f"{'toolset --version (whole process)':<40} {(time.perf_counter() - started) / 5:>8.3f}s")


if __name__ == "__main__":
    main()
