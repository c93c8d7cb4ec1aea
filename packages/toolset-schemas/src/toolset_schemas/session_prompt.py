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
# The patterns define what is found; the functions below find the same faster, starting from str.find of a
# literal instead of trying a pattern at every position (tests/schemas compare both).
_BULLET_LEAD = re.compile(r"\s*-\s*")
_BULLET_VALUE = re.compile(r"""\s*["']?([^"'\s]+)""")
_OPEN, _CLOSE = "<available_workspaces>", "</available_workspaces>"
_LISTED_ID_AT = re.compile(_LISTED_ID.pattern.removeprefix(r"\b"))


_KEYS = {
    key: ("<" + key + ">", key + ":", xml_pattern, bullet_pattern)
    for key, (xml_pattern, bullet_pattern) in _PATTERNS.items()
}


def _find(key: str, text: str) -> tuple[str | None, str | None]:
    """The value of ``key`` and its style: the XML pattern's first match, else the bullet pattern's. For the
    bullet style, quick path: when the first ``key:`` is on a line holding only blanks and a ``-`` before it,
    it is the pattern's match (no earlier one can exist); otherwise the pattern searches."""
    open_tag, target, xml_pattern, bullet_pattern = _KEYS[key]
    if open_tag in text:  # the XML pattern's literal
        xml = xml_pattern.search(text)
        if xml:
            return xml.group(1), "xml"
    at = text.find(target)  # the bullet pattern's literal
    if at == -1:
        return None, None
    if _BULLET_LEAD.fullmatch(text, text.rfind("\n", 0, at) + 1, at):
        value = _BULLET_VALUE.match(text, at + len(target))
        if value:
            return value.group(1), "bullet"
    bullet = bullet_pattern.search(text)
    return (bullet.group(1), "bullet") if bullet else (None, None)


def _available_blocks(text: str) -> list[str]:
    """What ``_AVAILABLE.findall(text)`` returns: each block up to its closing tag, or to the end."""
    blocks = []
    at = text.find(_OPEN)
    while at != -1:
        start = at + len(_OPEN)
        end = text.find(_CLOSE, start)
        if end == -1:
            blocks.append(text[start:])
            break
        blocks.append(text[start:end])
        at = text.find(_OPEN, end + len(_CLOSE))
    return blocks


def _listed_ids(block: str) -> list[str]:
    """What ``_LISTED_ID.findall(block)`` returns: ``id`` at a word start, then ``:`` or ``=`` and a quoted value."""
    found = []
    at = block.find("id")
    while at != -1:
        previous = block[at - 1] if at else " "
        if not (previous.isalnum() or previous == "_"):
            match = _LISTED_ID_AT.match(block, at)
            if match:
                found.append(match.group(1))
                at = block.find("id", match.end())
                continue
        at = block.find("id", at + 1)
    return found


@functools.lru_cache(maxsize=256)
def prompt_ids(text: str | None) -> tuple[str | None, str | None]:
    """The session and workspace ids of :func:`parse_session_prompt`, without reading the listed workspaces."""
    if not text:
        return None, None
    return _find("sessionId", text)[0], _find("workspaceId", text)[0]


@functools.lru_cache(maxsize=256)
def parse_session_prompt(text: str | None) -> SessionPrompt:
    """Extract the ids from a system prompt; fields it doesn't state are ``None`` / empty (cached: the
    calls of one conversation share its prompt)."""
    if not text:
        return SessionPrompt()
    session_id, session_style = _find("sessionId", text)
    workspace_id, workspace_style = _find("workspaceId", text)
    available: list[str] = []
    for block in _available_blocks(text):
        available += [found for found in _listed_ids(block) if found not in available]
    return SessionPrompt(session_id, workspace_id, tuple(available), session_style or workspace_style)
