"""The example plugin runs toolset's conformance kit, as any third-party plugin would."""

import toolset_plugin_example

from toolset.testing import assert_plugin_conforms


def test_plugin_conforms():
    assert_plugin_conforms(toolset_plugin_example)


def test_keyword_backend_calls_the_matching_tool():
    catalog = toolset_plugin_example.notes_catalog(None)
    client = toolset_plugin_example.KeywordClient(toolset_plugin_example.KeywordConfig())
    response = client.chat([{"role": "user", "content": "delete the note 'old draft'"}], tools=catalog.to_openai())
    assert response.tool_calls == [{"name": "delete_note", "arguments": {"title": "old draft"}}]
    assert client.chat([{"role": "user", "content": "hello there"}], tools=catalog.to_openai()).tool_calls == []
