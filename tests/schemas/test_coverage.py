"""`toolset coverage`: calls per tool and agent by label, gaps, unknown names, every format, real data."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from toolset.data import Conversation, Message, ToolCall
from toolset.data.readers import read_conversations, sample_path
from toolset.data.writers import write_conversations
from toolset_schemas.coverage import Coverage, agents_of, coverage_files

from .conftest import context
from .test_claudesidian_data import SFT_NAMES_NOT_IN_SCHEMAS


def invoke(*args):
    from toolset.cli import cli
    from toolset.plugins import add_commands

    add_commands(cli)
    return CliRunner().invoke(cli, ["coverage", *map(str, args)])


def example(*names, label=None):
    calls = [
        ToolCall(name=name, arguments={"context": context(), "path": "a.md"}, id=f"c{i}")
        for i, name in enumerate(names)
    ]
    messages = [Message(role="user", content="Do it.")]
    messages.append(Message(role="assistant", tool_calls=calls) if calls else Message(role="assistant", content="Ok."))
    return Conversation(messages=messages, label=label)


EXAMPLES = [
    example("vaultManager_openNote"),
    example("vaultManager_openNote", "contentManager_readContent", label=True),
    example("vaultManager_openNot", label=False),
    example("vaultManager_openNote", label=False),
    example(),
    example("get_tools", label=False),
]


def test_agents_are_shared_prefixes():
    assert agents_of(["vaultManager_openNote", "vaultManager_moveNote", "get_tools"]) == {
        "vaultManager_openNote": "vaultManager",
        "vaultManager_moveNote": "vaultManager",
        "get_tools": "get_tools",
    }


def test_counts_by_label(tmp_path):
    path = tmp_path / "data.jsonl"
    write_conversations(EXAMPLES, path, format="conversations")
    data = coverage_files([path]).to_json()
    assert data["examples"] == {"total": 6, "desirable": 3, "undesirable": 3}
    assert data["tools"]["vaultManager_openNote"] == {"agent": "vaultManager", "desirable": 2, "undesirable": 1}
    assert data["tools"]["get_tools"] == {"agent": "get_tools", "desirable": 0, "undesirable": 1}
    assert data["agents"]["vaultManager"] == {"desirable": 2, "undesirable": 1}
    assert data["agents"]["contentManager"] == {"desirable": 1, "undesirable": 0}
    assert data["unknown_tools"] == {"vaultManager_openNot": {"desirable": 0, "undesirable": 1}}
    assert data["examples_without_calls"] == {"desirable": 1, "undesirable": 0}
    assert data["multi_call_examples"] == {"desirable": 1, "undesirable": 0}
    assert data["tool_calls"] == {"total": 6, "to_unknown_tools": 1}
    assert "vaultManager_moveNote" in data["tools_without_examples"]
    assert "get_tools" not in data["tools_without_examples"]
    assert "get_tools" in data["tools_without_desirable_examples"]
    assert len(data["tools"]) == 47


HERMES = '<tool_call>{"name": "vaultManager_openNote", "arguments": {"path": "a.md"}}</tool_call>'
MISTRAL = '[TOOL_CALLS] [{"name": "vaultManager_openNote", "arguments": {"path": "a.md"}}]'


@pytest.mark.parametrize("fmt", ["conversations", "messages", "text", "hermes", "mistral"])
def test_every_reader_format(tmp_path, fmt):
    path = tmp_path / f"{fmt}.jsonl"
    if fmt in ("hermes", "mistral"):
        content = HERMES if fmt == "hermes" else MISTRAL
        record = {"conversations": [{"role": "user", "content": "q"}, {"role": "assistant", "content": content}]}
        path.write_text(json.dumps(record) + "\n" + json.dumps({**record, "label": False}) + "\n")
    else:
        write_conversations(
            [example("vaultManager_openNote"), example("vaultManager_openNote", label=False)], path, format=fmt
        )
    data = coverage_files([path]).to_json()
    assert data["tools"]["vaultManager_openNote"] == {"agent": "vaultManager", "desirable": 1, "undesirable": 1}
    assert data["unknown_tools"] == {} and data["reader_findings"] == {}


def test_bundled_samples():
    sft = coverage_files([sample_path("claudesidian_sft.jsonl")]).to_json()
    total = sum(1 for _ in read_conversations(sample_path("claudesidian_sft.jsonl")))
    assert sft["examples"]["total"] == total and sft["examples"]["undesirable"] == 0
    assert sft["unknown_tools"] == {}
    assert sum(c["desirable"] for c in sft["tools"].values()) == sft["tool_calls"]["total"]
    kto = coverage_files([sample_path("claudesidian_kto.jsonl")]).to_json()
    assert kto["examples"]["desirable"] and kto["examples"]["undesirable"]


def test_cli_text_json_and_plot(tmp_path):
    path = tmp_path / "data.jsonl"
    write_conversations(EXAMPLES, path, format="conversations")
    text = invoke(path)
    assert text.exit_code == 0, text.output
    assert "6 example(s) in 1 file(s) (3 desirable, 3 undesirable), 6 tool call(s)" in text.output
    assert "names not in claudesidian (1):" in text.output and "vaultManager_openNot" in text.output
    assert "multi-call: 1 desirable, 0 undesirable" in text.output
    png = tmp_path / "plots" / "coverage.png"
    result = invoke(path, "--json", "--plot", png)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["examples"]["total"] == 6  # stdout stays pure JSON
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_could_not_run_exits_2(tmp_path):
    missing = invoke(tmp_path / "missing.jsonl")
    assert missing.exit_code == 2 and "no such file or folder" in missing.stderr
    path = tmp_path / "data.jsonl"
    write_conversations(EXAMPLES, path, format="conversations")
    unknown = invoke(path, "--toolset", "claudesidan")
    assert unknown.exit_code == 2 and "claudesidian" in unknown.stderr
    assert "Traceback" not in missing.stderr + unknown.stderr


def test_streams_into_counters():
    coverage = Coverage(toolset="t", tools=["a_x", "a_y"])
    for _ in range(1000):
        coverage.add(example("a_x"))
    assert coverage.calls["a_x"]["desirable"] == 1000 and not hasattr(coverage, "conversations")


def test_every_upstream_file(upstream_data):
    files = sorted(p for p in upstream_data.rglob("*") if p.suffix in (".jsonl", ".json") and p.is_file())
    for path in files:  # tool_schemas.json and the prompt sets are not conversations: findings, no crash
        coverage_files([path])
    sft = coverage_files([upstream_data / "Datasets" / "tools_datasets"]).to_json()
    assert len(sft["files"]) == 4 and sft["examples"]["total"] == 5681
    assert set(sft["unknown_tools"]) == SFT_NAMES_NOT_IN_SCHEMAS
    assert sft["examples"]["undesirable"] == 0 and sft["multi_call_examples"]["desirable"] > 0
    kto = coverage_files([upstream_data / "Datasets" / "behavior_datasets"]).to_json()
    assert kto["examples"]["desirable"] > 2000 and kto["examples"]["undesirable"] > 2000
    # label=false lines deliberately call wrong names; desirable ones call only real tools
    assert kto["unknown_tools"] and all(counts["undesirable"] for counts in kto["unknown_tools"].values())
