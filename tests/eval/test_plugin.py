"""toolset-eval passes the conformance kit; loading it stays light; its backends are registered."""

from __future__ import annotations

import json
import subprocess
import sys

import toolset_eval.plugin
from toolset.testing import assert_plugin_conforms, plugin_components


def test_plugin_conforms():
    assert_plugin_conforms(toolset_eval.plugin)


def test_registers_the_five_backends_and_the_evaluator():
    components = plugin_components(toolset_eval.plugin)
    assert [c.name for c in components if c.kind == "backend"] == [
        "ollama",
        "lmstudio",
        "openai",
        "llamacpp",
        "transformers",
    ]
    assert [c.name for c in components if c.kind == "evaluator"] == ["schema-exact"]


def test_loading_the_plugin_imports_neither_requests_nor_llama_cpp():
    script = "import sys, json, toolset_eval.plugin as p; print(json.dumps(sorted(sys.modules)))"
    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    loaded = {name.split(".")[0] for name in json.loads(output)}
    assert not loaded & {"requests", "llama_cpp", "numpy", "urllib3"}


def test_llamacpp_availability_explains_itself():
    (llamacpp,) = [c for c in plugin_components(toolset_eval.plugin) if c.name == "llamacpp"]
    availability = llamacpp.availability()
    assert availability.detail
    if not availability.usable:
        assert "llama-cpp-python is not installed" in availability.detail


def test_llamacpp_check_names_the_missing_package():
    script = """
import sys
class HideLlamaCpp:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "llama_cpp":
            raise ModuleNotFoundError(name)
sys.meta_path.insert(0, HideLlamaCpp())
import toolset_eval.plugin as p
from toolset.testing import plugin_components, check_plugin
(backend,) = [c for c in plugin_components(p) if c.name == "llamacpp"]
availability = backend.availability()
print(availability.usable, availability.detail, check_plugin(p))
"""
    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert output.startswith("False llama-cpp-python is not installed: pip install 'llama-cpp-python>=0.3.9'")
    assert output.rstrip().endswith("[]")  # an unusable backend that says why still conforms


def test_server_backends_say_where_they_will_connect(monkeypatch):
    for variable in ("OLLAMA_HOST", "LMSTUDIO_HOST", "OPENAI_BASE_URL"):
        monkeypatch.delenv(variable, raising=False)
    by_name = {c.name: c for c in plugin_components(toolset_eval.plugin)}
    assert by_name["ollama"].availability().detail.startswith("server expected at http://127.0.0.1:11434 ")
    assert "http://127.0.0.1:1234/v1" in by_name["lmstudio"].availability().detail
    monkeypatch.setenv("OPENAI_BASE_URL", "https://api.example.com/v1")
    assert "https://api.example.com/v1 " in by_name["openai"].availability().detail
    monkeypatch.setenv("OLLAMA_HOST", "ftp://somewhere")
    availability = by_name["ollama"].availability()
    assert not availability.usable and "unsupported scheme 'ftp'" in availability.detail
