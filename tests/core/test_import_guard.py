"""``import toolset`` must not pull heavy libraries; they load only inside the plugins that need them."""

import json
import subprocess
import sys

HEAVY = ("torch", "transformers", "trl", "peft", "mlx", "llama_cpp", "datasets", "unsloth", "numpy")


def _modules_after(code: str) -> set[str]:
    script = f"import sys, json\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    return set(json.loads(output.splitlines()[-1]))


def test_import_toolset_pulls_no_heavy_library():
    loaded = _modules_after("import toolset")
    assert not {name for name in loaded if name.split(".")[0] in HEAVY}


def test_loading_every_plugin_pulls_no_heavy_library():
    loaded = _modules_after("from toolset import cli, plugins; plugins.plugin_infos(); plugins.add_commands(cli.cli)")
    heavy = {name for name in loaded if name.split(".")[0] in HEAVY}
    assert not heavy, f"plugins imported heavy modules at load time: {sorted(heavy)[:10]}"


def test_the_guard_sees_a_heavy_import():
    loaded = _modules_after("import toolset, numpy")
    assert "numpy" in loaded


def test_loading_every_plugin_leaves_slow_helpers_for_first_use():
    """yaml, cattrs and importlib.metadata load when a config is read or a run is recorded, not at start-up."""
    loaded = _modules_after("from toolset import cli, plugins; plugins.plugin_infos(); plugins.add_commands(cli.cli)")
    assert not {"yaml", "cattrs", "importlib.metadata"} & loaded
