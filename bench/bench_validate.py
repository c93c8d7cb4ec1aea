"""Validation benchmark: `toolset validate` on the four Claudesidian SFT part files concatenated (5,681 lines).

Run: .venv/bin/python bench/bench_validate.py [--runs 10] [--data ../shared/upstream-data]

- whole process: a fresh `toolset validate FILE --json --no-progress` per run (wall time and peak RSS from
  wait4), by default (the file split over one process per CPU, at most 4) and with `--jobs 1`, taking turns
  so that both meet the same machine load; .pyc files are written by a warm-up run first, as after any
  normal install;
- the machine's speed at the time: a fixed pure-Python loop (this host's speed varies with its neighbours);
- in process: examples/s of `validate_files` alone, with the compiled engine and with jsonschema only;
- memory against file size: peak RSS of one run on the file repeated 1, 4 and 16 times.
The baseline (a simple regex-and-dict validator, 0.29-0.46 s whole process here) is not in this repository.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PARTS = (
    "agentManager/tools_v1.3.jsonl",
    "contentManager/tools_v1.4.jsonl",
    "memoryManager/tools_v1.4.jsonl",
    "vaultManager/tools_v1.3.jsonl",
)


def concatenate(data: Path, out: Path, copies: int = 1) -> Path:
    with open(out, "wb") as handle:
        for _ in range(copies):
            for part in PARTS:
                raw = (data / "Datasets" / "tools_datasets" / part).read_bytes()
                handle.write(raw if raw.endswith(b"\n") else raw + b"\n")
    return out


LEAN = (
    "import sys; from pathlib import Path; from toolset_schemas.validator import validate_files; "
    "validate_files([Path(sys.argv[1])]).summary()"
)


def command(path: Path) -> list[str]:
    script = Path(sys.executable).with_name("toolset")
    prefix = [str(script)] if script.exists() else [sys.executable, "-m", "toolset.cli"]
    return [*prefix, "validate", str(path), "--json", "--no-progress"]


def run_once(args: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (MiB) of one process."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    started = time.perf_counter()
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(args)} exited {process.returncode}")
    return elapsed, usage.ru_maxrss // 1024


def in_process(path: Path, runs: int, engine: bool) -> tuple[float, int]:
    from toolset_schemas import validator as module

    best, count = float("inf"), 0
    original = module.Validator.__init__

    def jsonschema_only(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self._compiled = dict.fromkeys(self._compiled)

    if not engine:
        module.Validator.__init__ = jsonschema_only
    try:
        for _ in range(runs):
            started = time.perf_counter()
            report = module.validate_files([path])
            best = min(best, time.perf_counter() - started)
            count = report.summary()["conversations"]
    finally:
        module.Validator.__init__ = original
    return best, count


def reference_loop() -> float:
    """Best of three runs of a fixed pure-Python loop: compare it between runs of this benchmark."""
    best = float("inf")
    for _ in range(3):
        started, total = time.perf_counter(), 0
        for number in range(3_000_000):
            total += number
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "upstream-data")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-validate-"))
    try:
        path = concatenate(args.data, folder / "sft.jsonl")
        lines = path.read_bytes().count(b"\n")
        print(f"file: {lines} lines, {path.stat().st_size / 2**20:.1f} MiB")
        run_once(command(path))  # warm-up: file cache and .pyc files
        print(f"{'reference loop (machine speed)':<40} {reference_loop():.3f} s")
        variants = {"toolset validate": command(path), "toolset validate --jobs 1": [*command(path), "--jobs", "1"]}
        walls: dict[str, list[float]] = {name: [] for name in variants}
        rss: dict[str, list[int]] = {name: [] for name in variants}
        for _ in range(args.runs):  # in turns: both see the same load
            for name, argv in variants.items():
                wall, peak = run_once(argv)
                walls[name].append(wall)
                rss[name].append(peak)
        version = [run_once([command(path)[0], "--version"])[0] for _ in range(args.runs)]
        lean = [run_once([sys.executable, "-c", LEAN, str(path)])[0] for _ in range(args.runs)]
        for name in variants:
            times = walls[name]
            text = f"median {statistics.median(times):.3f} s  best {min(times):.3f} s  peak RSS {max(rss[name])} MiB"
            print(f"{name + ', whole process':<40} {text}")
        print(f"{'toolset --version, whole process':<40} median {statistics.median(version):.3f} s")
        print(f"{'validate_files without the CLI, process':<40} median {statistics.median(lean):.3f} s")
        for engine in (True, False):
            seconds, count = in_process(path, max(3, args.runs // 3), engine)
            name = "compiled engine" if engine else "jsonschema only"
            print(f"{'in process, ' + name:<40} best {seconds:.3f} s  {count / seconds:,.0f} examples/s")
        for copies in (4, 16):
            big = concatenate(args.data, folder / f"sft-x{copies}.jsonl", copies)
            wall, peak = run_once(command(big))
            print(f"{f'x{copies} ({big.stat().st_size / 2**20:.0f} MiB), whole process':<40} {wall:.2f} s  {peak} MiB")
    finally:
        shutil.rmtree(folder)


if __name__ == "__main__":
    main()
