"""Builders for conversations with Claudesidian tool calls, and an isolated user tool-set folder."""

from __future__ import annotations

from typing import Any

import pytest

from toolset.data import Conversation, Message, ToolCall

SESSION = "session_1731071640123_d7m2v9c4r"
WORKSPACE = "ws_1731020200000_q5r4s3t2u"
OTHER_WORKSPACE = "ws_1731530100001_k9l0m1n2o"

BULLET_PROMPT = f"""<session_context>
IMPORTANT: When using tools, include these values in your tool call parameters:

- sessionId: "{SESSION}"
- workspaceId: "{WORKSPACE}" (current workspace)

Include these in the "context" parameter of your tool calls.
</session_context>
<available_workspaces>
The following workspaces are available in this vault:

- Research Hub (id: "{WORKSPACE}")
  Description: Academic research
- Archive (id: "{OTHER_WORKSPACE}")
</available_workspaces>"""

XML_PROMPT = f"""<session_context>
  <sessionId>{SESSION}</sessionId>
  <workspaceId>{WORKSPACE}</workspaceId>
  <sessionDescription>File management session</sessionDescription>
</session_context>
<available_workspaces>
  <workspace id="{WORKSPACE}" name="Main" />
  <workspace id="{OTHER_WORKSPACE}" name="Archive" root="Archive/" />
</available_workspaces>"""


def context(**overrides: Any) -> dict[str, Any]:
    value = {
        "sessionId": SESSION,
        "workspaceId": WORKSPACE,
        "sessionDescription": "Organising notes",
        "sessionMemory": "User is tidying the vault.",
        "toolContext": "Creating a folder for resources",
        "primaryGoal": "Organise research",
        "subgoal": "Create the folder",
    }
    value.update(overrides)
    return {k: v for k, v in value.items() if v is not None}


def call(name: str = "vaultManager_createFolder", **arguments: Any) -> ToolCall:
    if "context" not in arguments:
        arguments = {"context": context(), **arguments}
    return ToolCall(name=name, arguments=arguments)


def conversation(
    *calls: ToolCall, system: str | None = BULLET_PROMPT, label: bool | None = None, line: int = 1
) -> Conversation:
    messages = [Message(role="system", content=system)] if system else []
    messages += [Message(role="user", content="Please do it."), Message(role="assistant", tool_calls=list(calls))]
    return Conversation(messages=messages, label=label, metadata={"source": "data.jsonl", "line": line})


@pytest.fixture
def user_dir(tmp_path, monkeypatch):
    """TOOLSET_TOOLSETS_DIR pointed at an empty folder for this test."""
    folder = tmp_path / "toolsets"
    monkeypatch.setenv("TOOLSET_TOOLSETS_DIR", str(folder))
    return folder
