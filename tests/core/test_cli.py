"""The ``toolset`` CLI: version, plugins, doctor, config show, and user errors without tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from toolset import __version__

DISTRIBUTIONS = {"toolset-core", "toolset-schemas", "toolset-cuda", "toolset-mlx", "toolset-eval"}


def run(*args: str, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """Run the real installed CLI in a subprocess, as a user would."""
    result = subprocess.run(
        [sys.executable, "-c", "from toolset.cli import main; main()", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"toolset {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def test_version():
    assert run("--version").stdout.strip() == f"toolset, version {__version__}"


def test_plugins_json_lists_all_five_distributions():
    infos = json.loads(run("plugins", "--json").stdout)
    assert {info["distribution"] for info in infos} == DISTRIBUTIONS
    by_name = {info["name"]: info for info in infos}
    assert by_name["toolset.builtins.exporters"]["registers"] == {
        "exporters": ["adapter", "gguf", "ollama", "lmstudio"]
    }
    assert by_name["toolset.builtins.exporters"]["builtin"] is True
    assert set(by_name["toolset.builtins.commands"]["commands"]) >= {"config", "toolsets", "ask"}
    for info in infos:
        assert info["version"] == "0.1.0"
        assert info["errors"] == []
        assert set(info) == {"name", "distribution", "version", "builtin", "hooks", "registers", "commands", "errors"}


def test_plugins_text_output():
    output = run("plugins").stdout
    for distribution in DISTRIBUTIONS:
        assert distribution in output


def test_doctor_on_this_machine():
    report = json.loads(run("doctor", "--json").stdout)
    assert report["python"]["version"].startswith("3.")
    assert report["torch"]["installed"] is True
    assert report["disk"]["free_gib"] > 0
    assert "adapter" in [entry["name"] for entry in report["components"]["exporters"]]
    text = run("doctor").stdout
    assert "torch" in text and "Disk" in text and "Exporters:" in text
    if report["torch"]["device"] == "cpu":  # CPU-only machine: doctor says what falls back and why
        assert "training runs on the CPU with transformers + PEFT" in text
        assert "CPU build of torch" in text or "no usable GPU" in text


def test_config_show_resolves_preset_file_and_overrides(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("preset: 7b\nlora:\n  r: 4\n")
    output = run("config", "show", str(path), "--set", "train.kto.beta=0.25", "--format", "json").stdout
    data = json.loads(output)
    assert data["model"]["name"] == "mistralai/Mistral-7B-Instruct-v0.3"
    assert data["lora"]["r"] == 4
    assert data["train"]["kto"]["beta"] == 0.25
    assert "name: HuggingFaceTB/SmolLM2-135M-Instruct" in run("config", "show", "--preset", "tiny").stdout
    assert "tiny" in run("config", "presets").stdout
    gemma = run("config", "show", "--preset", "tiny-gemma").stdout
    assert "preset: tiny-gemma" in gemma and "name: google/gemma-3-270m\n  source: embedded" in gemma
    assert "tiny-gemma       google/gemma-3-270m" in run("config", "presets").stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("config", "show", "--set", "lora.r=abc"), "lora.r = 'abc': expected int"),
        (("config", "show", "--set", "lora.alpah=4"), "did you mean 'lora.alpha'?"),
        (("config", "show", "missing.yaml"), "missing.yaml: config file not found"),
        (("toolsets", "show", "no-such-toolset"), "unknown toolset 'no-such-toolset'"),
        (("ask", "hello", "--backend", "no-such-backend"), "unknown backend 'no-such-backend'"),
        (("pipeline",), "give a CONFIG file or --preset (e.g. --preset tiny)"),
        (("train", "sft"), "give a CONFIG file or --preset (e.g. --preset tiny)"),
        (("mlx", "train"), "give a CONFIG file or --preset (e.g. --preset mac-7b)"),
    ],
)
def test_user_errors_are_messages_not_tracebacks(args, expected):
    result = run(*args, check=False)
    assert result.returncode == 1
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


def test_a_broken_plugin_does_not_break_the_cli(tmp_path):
    """A distribution whose plugin module fails to import is reported; everything else keeps working."""
    dist_info = tmp_path / "broken_plugin-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text("[toolset]\nbroken-plugin = broken_plugin_module\n")
    (tmp_path / "broken_plugin_module.py").write_text("raise ImportError('this plugin is broken on purpose')\n")
    env = {**__import__("os").environ, "PYTHONPATH": str(tmp_path)}
    infos = json.loads(run("plugins", "--json", env=env).stdout)
    broken = next(info for info in infos if info["name"] == "broken-plugin")
    assert "this plugin is broken on purpose" in broken["errors"][0]
    result = run("config", "presets", env=env)
    assert "tiny" in result.stdout
    assert "plugin broken-plugin: failed to import" in result.stderr


def test_validate_imports_no_other_plugin():
    """Plugins load lazily: `toolset validate` imports toolset-schemas' plugin, never cuda, eval or mlx ones."""
    script = (
        "import json, sys\n"
        "from toolset.cli import main\n"
        "from toolset.data.readers import sample_path\n"
        "try:\n"
        "    main(['validate', str(sample_path('claudesidian_sft.jsonl')), '--json', '--no-progress'])\n"
        "except SystemExit as exc:\n"
        "    code = exc.code\n"
        "print(json.dumps({'code': code, 'modules': sorted(sys.modules)}))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    outcome = json.loads(result.stdout.splitlines()[-1])
    assert outcome["code"] == 0, result.stdout[-2000:] + result.stderr
    modules = set(outcome["modules"])
    assert "toolset_schemas.commands" in modules
    others = sorted(m for m in modules if m.split(".")[0] in {"toolset_cuda", "toolset_eval", "toolset_mlx"})
    assert not others, f"toolset validate imported {others}"


def test_help_lists_the_commands_of_every_plugin():
    output = run("--help").stdout
    for command in ("plugins", "doctor", "config", "toolsets", "validate", "coverage", "train", "eval", "mlx"):
        assert f"  {command} " in output, command
    assert "Usage: toolset train" in run("train", "--help").stdout


def test_disabled_plugin_commands_are_unknown():
    env = {**__import__("os").environ, "TOOLSET_DISABLE_PLUGINS": "toolset-schemas"}
    result = run("validate", "x.jsonl", env=env, check=False)
    assert result.returncode == 2
    assert "No such command 'validate'" in result.stderr
