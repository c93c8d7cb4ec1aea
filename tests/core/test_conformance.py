"""Every plugin the project ships passes the conformance kit third-party plugins use."""

from __future__ import annotations

import pytest

from toolset.testing import assert_plugin_conforms


def _loaded_plugins():
    from toolset import plugins

    plugins.reset()
    plugins.load_plugins()
    found = list(plugins.pm.list_name_plugin())
    plugins.reset()
    return found


PLUGINS = _loaded_plugins()


@pytest.mark.parametrize(("name", "plugin"), PLUGINS, ids=[name for name, _ in PLUGINS])
def test_shipped_plugin_conforms(name, plugin):
    if not any(attr.startswith("register_") for attr in dir(plugin)):
        pytest.skip(f"{name} registers nothing yet")
    assert_plugin_conforms(plugin)
