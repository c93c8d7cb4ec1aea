"""``toolset doctor``: what this machine has, and which components can run here (and why not)."""

from __future__ import annotations

import functools
import importlib
import platform
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from toolset.components import missing_modules
from toolset.plugins import get_registries, plugin_infos
from toolset.plugins.registry import KNOWN_PROVIDERS, provider_hint
from toolset.plugins.versions import installed_version


@functools.cache
def torch_info() -> dict[str, Any]:
    """torch's version and the best device it sees; imports torch (only doctor and trainers call this)."""
    if missing_modules(["torch"]):
        return {
            "installed": False,
            "device": "cpu",
            "detail": 'torch is not installed (pip install "toolset-core[cuda]")',
        }
    try:
        import torch
    except Exception as exc:
        return {"installed": False, "device": "cpu", "detail": f"torch fails to import: {exc}"}
    info: dict[str, Any] = {
        "installed": True,
        "version": torch.__version__,
        "cuda_build": torch.version.cuda,
        "device": "cpu",
        "gpus": [],
    }
    if torch.cuda.is_available():
        info["device"] = "cuda"
        for index in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(index)
            info["gpus"].append({"name": props.name, "memory_gib": round(props.total_memory / 2**30, 1)})
        info["bf16"] = bool(torch.cuda.is_bf16_supported())
    elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        info["device"] = "mps"
    if info["device"] == "cpu":
        info["detail"] = (
            "CPU build of torch (no CUDA in this build)"
            if torch.version.cuda is None
            else "CUDA build of torch, but no usable GPU"
        )
    return info


def nvidia_smi() -> list[str]:
    """GPU lines from nvidia-smi, even when torch is missing or CPU-only."""
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        output = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line.strip() for line in output.splitlines() if line.strip()]


@functools.cache
def mlx_info() -> dict[str, Any]:
    if missing_modules(["mlx"]):
        hint = (
            'pip install "toolset-core[mlx]"'
            if sys.platform == "darwin"
            else 'pip install "toolset-core[mlx]" (selects mlx[cpu] on Linux)'
        )
        return {"installed": False, "detail": f"mlx is not installed ({hint})"}
    try:
        core = importlib.import_module("mlx.core")
    except Exception as exc:  # plain `mlx` on Linux lacks libmlx.so
        return {"installed": False, "detail": f"mlx fails to import: {exc} (on Linux install mlx[cpu])"}
    apple = sys.platform == "darwin" and platform.machine() == "arm64"
    return {
        "installed": True,
        "version": getattr(core, "__version__", installed_version("mlx")),
        "device": str(core.default_device()),
        "detail": "Apple Silicon GPU" if apple else "CPU only (MLX trains fast on Apple Silicon)",
    }


@functools.cache
def llama_cpp_info() -> dict[str, Any]:
    if missing_modules(["llama_cpp"]):
        return {"installed": False, "detail": 'llama-cpp-python is not installed (pip install "toolset-core[gguf]")'}
    try:
        module = importlib.import_module("llama_cpp")
    except Exception as exc:
        return {"installed": False, "detail": f"llama_cpp fails to import: {exc}"}
    return {"installed": True, "version": getattr(module, "__version__", None)}


def disk_info(path: Path) -> dict[str, Any]:
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    usage = shutil.disk_usage(existing)
    return {"path": str(path), "free_gib": round(usage.free / 2**30, 1), "total_gib": round(usage.total / 2**30, 1)}


def gather(output_dir: Path = Path("runs")) -> dict[str, Any]:
    """Everything ``toolset doctor`` reports, as plain data."""
    registries = get_registries()
    components: dict[str, list[dict[str, Any]]] = {}
    for component in registries.all():
        availability = component.availability()
        components.setdefault(component.kind + "s", []).append(
            {
                "name": component.name,
                "plugin": component.plugin,
                "usable": availability.usable,
                "detail": availability.detail,
            }
        )
    missing = [
        {"kind": kind, "name": name, "distribution": dist, "why": provider_hint(kind, name)}
        for (kind, name), (dist, _extra) in sorted(KNOWN_PROVIDERS.items())
        if name not in registries.for_kind(kind)
    ]
    return {
        "python": {"version": platform.python_version(), "executable": sys.executable, "platform": platform.platform()},
        "packages": {
            name: installed_version(name)
            for name in ("toolset-core", "transformers", "trl", "peft", "datasets", "unsloth", "mlx-lm", "gguf")
        },
        "torch": torch_info(),
        "nvidia_smi": nvidia_smi(),
        "mlx": mlx_info(),
        "llama_cpp": llama_cpp_info(),
        "disk": disk_info(output_dir.resolve()),
        "components": components,
        "not_installed": missing,
        "plugin_errors": {info.name: info.errors for info in plugin_infos() if info.errors},
    }


def render(report: dict[str, Any]) -> str:
    """A human-readable doctor report."""
    lines = []
    py = report["python"]
    lines.append(f"Python      {py['version']} ({py['executable']})")
    lines.append(f"Platform    {py['platform']}")
    torch = report["torch"]
    if torch["installed"]:
        line = f"torch       {torch['version']}, device {torch['device']}"
        if torch.get("gpus"):
            line += ": " + "; ".join(f"{gpu['name']} ({gpu['memory_gib']} GiB)" for gpu in torch["gpus"])
        elif torch.get("detail"):
            line += f" - {torch['detail']}"
        lines.append(line)
    else:
        lines.append(f"torch       - {torch['detail']}")
    if report["nvidia_smi"] and not torch.get("gpus"):
        lines.append(f"GPU         {'; '.join(report['nvidia_smi'])} (seen by nvidia-smi, not by torch)")
    elif not torch.get("gpus"):
        lines.append("GPU         none found: training runs on the CPU with transformers + PEFT (no Unsloth)")
    mlx = report["mlx"]
    lines.append(
        f"MLX         {mlx['version']} on {mlx['device']} - {mlx['detail']}"
        if mlx["installed"]
        else f"MLX         - {mlx['detail']}"
    )
    cpp = report["llama_cpp"]
    lines.append(
        f"llama.cpp   {cpp['version']} (llama-cpp-python)" if cpp["installed"] else f"llama.cpp   - {cpp['detail']}"
    )
    packages = ", ".join(f"{name} {ver}" for name, ver in report["packages"].items() if ver)
    lines.append(f"Packages    {packages}")
    disk = report["disk"]
    lines.append(f"Disk        {disk['free_gib']} GiB free of {disk['total_gib']} GiB at {disk['path']}")
    from toolset.plugins.manager import KINDS

    for kind in (f"{kind}s" for kind in KINDS):
        entries = report["components"].get(kind, [])
        lines.append("")
        lines.append(f"{kind.capitalize()}:")
        if not entries:
            lines.append("  (none registered)")
        for entry in entries:
            mark = "ok " if entry["usable"] else "no "
            detail = f" - {entry['detail']}" if entry["detail"] else ""
            lines.append(f"  {mark} {entry['name']:<14} [{entry['plugin']}]{detail}")
    if report["not_installed"]:
        lines.append("")
        lines.append("Not available here:")
        for entry in report["not_installed"]:
            lines.append(f"  {entry['kind']} {entry['name']}: {entry['why']}")
    if report["plugin_errors"]:
        lines.append("")
        lines.append("Plugin errors:")
        for name, errors in report["plugin_errors"].items():
            for error in errors:
                lines.append(f"  {name}: {error}")
    return "\n".join(lines)
