"""Processes of a distributed run: this process's rank, and relaunching the current command under accelerate.

A command given ``--num-processes N`` runs itself again under ``accelerate launch`` (DDP; CPU processes join a
gloo group); ``TOOLSET_LAUNCHED`` marks the launched copies so they do not relaunch. Only rank 0 writes shared
files. Nothing here imports torch or accelerate.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from toolset.components import missing_modules
from toolset.errors import ToolsetError

LAUNCHED = "TOOLSET_LAUNCHED"


def rank() -> int:
    """This process's global rank (0 when not launched by a distributed launcher)."""
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def launched() -> bool:
    """True inside a copy started by :func:`relaunch`."""
    return bool(os.environ.get(LAUNCHED))


def relaunch(num_processes: int, *, main_process_port: bool = True) -> int:
    """Run this same ``toolset`` command under ``accelerate launch`` with ``num_processes`` processes.

    ``main_process_port``: pick a free local port for the process group (several CPU runs on one machine
    must not collide on accelerate's default). Returns the launcher's exit status.
    """
    if missing_modules(["accelerate"]):
        raise ToolsetError('--num-processes needs accelerate: pip install "toolset-core[cuda]"')
    cleaned: list[str] = []
    skip = False
    for arg in sys.argv[1:]:
        if skip:
            skip = False
            continue
        if arg == "--num-processes":
            skip = True
            continue
        if arg.startswith("--num-processes="):
            continue
        cleaned.append(arg)
    launcher = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(num_processes)]
    # --multi_gpu selects accelerate's torch.distributed launcher; on a CPU machine the processes then join a
    # gloo group (TrainingArguments.ddp_backend), which is what a CPU-only DDP run needs.
    launcher += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--multi_gpu"]
    if main_process_port:
        launcher += ["--main_process_port", str(free_port())]
    command = [*launcher, "-m", "toolset", *cleaned]
    return subprocess.call(command, env={**os.environ, LAUNCHED: "1"})


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
