"""GGUF export benchmark on the embedded SmolLM2-135M-Instruct: wall time and peak memory per out type.

Run: .venv/bin/python bench/bench_export.py
Each export runs in a fresh process (peak RSS is that process's). Verification (loading with llama.cpp and
comparing with the HF model) is timed separately. Baseline, measured on this machine with llama.cpp's own
tools: convert_hf_to_gguf.py to f16 took 18 s, llama-quantize 1.1 s (Q8_0) and 1.8 s (Q4_K_M).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

BASELINE = {"f16": 18.0, "q8_0": 18.0 + 1.1, "q4_k_m": 18.0 + 1.8}
CHILD = """
import json, resource, sys, time
from pathlib import Path
from toolset.builtins.exporters import export_gguf
from toolset.weights.gguf_export import GGUFExportConfig
from toolset.weights.verify import verify_gguf
source, out, out_type = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
start = time.perf_counter()
path = export_gguf(source, out, GGUFExportConfig(out_type=out_type, verify=False))
export_s = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
start = time.perf_counter()
report = verify_gguf(path, source, exact=False)
verify_s = time.perf_counter() - start
print(json.dumps({"export_s": export_s, "peak_mib": peak, "size_mib": path.stat().st_size / 2**20,
                  "verify_s": verify_s, "agreement": report.agreement}))
"""


def main() -> None:
    from toolset.weights.models import embedded_model_dir

    source = embedded_model_dir()  # converted once from the embedded GGUF (cached)
    print(f"model: {source}")
    print(f"{'out type':<8} {'export':>8} {'baseline':>9} {'peak RSS':>10} {'size':>9} {'verify':>8} {'agreement':>10}")
    with tempfile.TemporaryDirectory() as scratch:
        for out_type in ("f16", "q8_0", "q4_k_m"):
            output = subprocess.run(
                [sys.executable, "-c", CHILD, str(source), str(Path(scratch) / f"m-{out_type}.gguf"), out_type],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            result = json.loads(output.strip().splitlines()[-1])
            print(
                f"{out_type:<8} {result['export_s']:>7.1f}s {BASELINE[out_type]:>8.1f}s {result['peak_mib']:>8.0f}MiB "
                f"{result['size_mib']:>7.0f}MiB {result['verify_s']:>7.1f}s {result['agreement']:>9.0%}"
            )


if __name__ == "__main__":
    main()
