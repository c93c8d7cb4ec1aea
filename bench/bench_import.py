"""Import-time benchmark: ``import toolset``, loading every plugin, the CLI's start-up and the entry-point scan.

Run: .venv/bin/python bench/bench_import.py [--runs 20] [--cpu]
Each measurement is a fresh interpreter; the figures are medians (and best) over the runs. Goal: import <= 0.3 s.
``--cpu`` times the process's CPU time instead of the wall clock: steadier on a machine shared with other jobs.
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
TIMER = "import time; _t = time.{clock}(); {code}; print(time.{clock}() - _t)"
# The entry-point scan alone (``declared()`` scans and reads the declarations, importing no plugin), in one process.
SCAN = """
import time
from toolset import plugins
for _ in range({runs}):
    plugins.reset()
    _t = time.{clock}()
    plugins.declared()
    print(time.{clock}() - _t)
"""


def measure(code: str, runs: int, clock: str = "perf_counter") -> list[float]:
    seconds = []
    for _ in range(runs):
        output = subprocess.run(
            [sys.executable, "-c", TIMER.format(clock=clock, code=code)], capture_output=True, text=True, check=True
        ).stdout
        seconds.append(float(output.strip().splitlines()[-1]))
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--cpu", action="store_true", help="CPU time of each process instead of wall time")
    args = parser.parse_args()
    clock = "process_time" if args.cpu else "perf_counter"
    measure("import toolset", 2)  # warm the file-system cache and .pyc files
    print(f"{'case':<40} {'median':>9} {'best':>9}")
    for name, code in CASES.items():
        seconds = measure(code, args.runs, clock)
        print(f"{name:<40} {statistics.median(seconds):>8.3f}s {min(seconds):>8.3f}s")
    output = subprocess.run(
        [sys.executable, "-c", SCAN.format(runs=args.runs * 5, clock=clock)], capture_output=True, text=True, check=True
    ).stdout
    seconds = [float(line) for line in output.split()]
    name = "entry-point scan (in process)"
    print(f"{name:<40} {statistics.median(seconds) * 1e3:>7.2f}ms {min(seconds) * 1e3:>7.2f}ms")
    started = time.perf_counter()
    for _ in range(5):
        subprocess.run([sys.executable, "-m", "toolset.cli", "--version"], capture_output=True, check=True)
    print(f"{'toolset --version (whole process)':<40} {(time.perf_counter() - started) / 5:>8.3f}s")


if __name__ == "__main__":
    main()
