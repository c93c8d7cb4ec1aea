#!/usr/bin/env bash
# toolset developer entry point. Creates .venv, installs every package of the workspace, then:
#   ./dev.sh quickstart   the main job on the embedded default model
#   ./dev.sh test [ARGS]  ruff (lint + format check) and the whole pytest suite (ARGS go to pytest)
#   ./dev.sh setup        only (re)install
# CPU torch on CPU machines: without an NVIDIA GPU it installs torch==$TOOLSET_TORCH_VERSION (a CPU
# build on our machines; elsewhere add TOOLSET_TORCH_INDEX=https://download.pytorch.org/whl/cpu), and pins it
# for every later install so that no package can swap it for a CUDA build.
set -euo pipefail
cd "$(dirname "$0")"

VENV="${TOOLSET_VENV:-.venv}"
PYTHON="${PYTHON:-python3.11}"
TORCH_VERSION="${TOOLSET_TORCH_VERSION:-2.13.0}"
PACKAGES=(toolset-core toolset-schemas toolset-cuda toolset-mlx toolset-eval)

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

# pip, minus the warnings some machines' pip configuration prints for every package.
quiet_pip() {
  "$VENV/bin/python" -m pip --disable-pip-version-check "$@" 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }
  return "${PIPESTATUS[0]}"
}

has_nvidia_gpu() { command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; }

setup() {
  if ! command -v "$PYTHON" >/dev/null 2>&1; then
    echo "dev.sh: $PYTHON not found; install Python 3.11+ or set PYTHON=/path/to/python3" >&2
    exit 2
  fi
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating virtual environment $VENV"
    "$PYTHON" -m venv "$VENV"
  fi
  local stamp_file="$VENV/.toolset-setup" stamp
  stamp=$(cat dev.sh requirements/*.txt packages/*/pyproject.toml | sha256sum | cut -d' ' -f1)
  if [ -f "$stamp_file" ] && [ "$(cat "$stamp_file")" = "$stamp" ]; then
    return
  fi
  local torch_spec extras=""
  if has_nvidia_gpu; then
    say "NVIDIA GPU found: installing a CUDA build of torch and Unsloth"
    torch_spec="torch>=2.4"
    extras="[unsloth]"
  elif [ "$(uname -s)" = "Darwin" ]; then
    torch_spec="torch>=2.4"
  else
    say "no NVIDIA GPU: installing the CPU build torch==$TORCH_VERSION"
    torch_spec="torch==$TORCH_VERSION"
  fi
  if [ -n "${TOOLSET_TORCH_INDEX:-}" ]; then
    quiet_pip install -q --extra-index-url "$TOOLSET_TORCH_INDEX" "$torch_spec"
  else
    quiet_pip install -q "$torch_spec"
  fi
  # Pin the torch just installed: any package asking for another one now fails instead of swapping it.
  "$VENV/bin/python" -c 'import importlib.metadata as m; print("torch==" + m.version("torch"))' >"$VENV/torch-pin.txt"
  say "installing the workspace packages (editable) and the dev tools"
  local editable=()
  for package in "${PACKAGES[@]}"; do
    if [ "$package" = toolset-core ]; then
      editable+=(-e "packages/$package[gguf,hub,embedded]")
    elif [ "$package" = toolset-cuda ]; then
      editable+=(-e "packages/$package$extras")
    else
      editable+=(-e "packages/$package")
    fi
  done
  quiet_pip install -q -c "$VENV/torch-pin.txt" "${editable[@]}" -r requirements/dev.txt
  echo "$stamp" >"$stamp_file"
}

command="${1:-help}"
shift || true
case "$command" in
  setup)
    setup
    ;;
  quickstart)
    setup
    "$VENV/bin/toolset" quickstart --resume "$@"
    ;;
  test)
    setup
    say "ruff check"
    "$VENV/bin/ruff" check .
    say "ruff format --check"
    "$VENV/bin/ruff" format --check .
    say "pytest"
    "$VENV/bin/python" -m pytest "$@"
    ;;
  *)
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
    [ "$command" = help ] || exit 2
    ;;
esac
