"""The session ids a Claudesidian system prompt gives the model, in either of its two styles.

Bullet style::

    - sessionId: "session_1731071640123_d7m2v9c4r"
    - workspaceId: "default" (no specific workspace selected)

XML style: ``<sessionId>…</sessionId>`` and ``<workspaceId>…</workspaceId>``. Both may be followed by an
``<available_workspaces>`` block listing workspace ids as ``(id: "…")``, ``<workspace id="…" />`` or
JSON objects with an ``"id"`` key.
"""

from __future__ import annotations

import functools
import re

import attrs

_BULLET = r"^\s*-\s*{key}:\s*[\"']?([^\"'\s]+)"
_XML = r"<{key}>\s*([^<\s]+)\s*</{key}>"
_AVAILABLE = re.compile(r"<available_workspaces>(.*?)(?:</available_workspaces>|\Z)", re.S)
_LISTED_ID = re.compile(r"""\bid"?\s*[:=]\s*["']([^"']+)["']""")


@attrs.frozen
class SessionPrompt:
    """What the system prompt says: the session id, current workspace id and other listed workspaces."""

    session_id: str | None = None
    workspace_id: str | None = None
    available_workspaces: tuple[str, ...] = ()
    style: str | None = None

    @property
    def allowed_workspaces(self) -> set[str]:
        allowed = set(self.available_workspaces)
        if self.workspace_id:
            allowed.add(self.workspace_id)
        return allowed


_PATTERNS = {
    key: (re.compile(_XML.format(key=key)), re.compile(_BULLET.format(key=key), re.M))
    for key in ("sessionId", "workspaceId")
}


def _find(key: str, text: str) -> tuple[str | None, str | None]:
    xml_pattern, bullet_pattern = _PATTERNS[key]
    xml = xml_pattern.search(text)
    if xml:
        return xml.group(1), "xml"
    bullet = bullet_pattern.search(text)
    if bullet:
        return bullet.group(1), "bullet"
    return None, None


@functools.lru_cache(maxsize=256)
def parse_session_prompt(text: str | None) -> SessionPrompt:
    """Extract the ids from a system prompt; fields it doesn't state are ``None`` / empty (cached: the
    calls of one conversation share its prompt)."""
    if not text:
        return SessionPrompt()
    session_id, session_style = _find("sessionId", text)
    workspace_id, workspace_style = _find("workspaceId", text)
    available: list[str] = []
    for block in _AVAILABLE.findall(text):
        available += [found for found in _LISTED_ID.findall(block) if found not in available]
    return SessionPrompt(session_id, workspace_id, tuple(available), session_style or workspace_style)
