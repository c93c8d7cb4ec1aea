"""How well a dataset covers a tool set: calls per tool and per agent, gaps, unknown names, call counts.

An example is *desirable* unless its label is ``false`` (SFT lines without a label count as desirable).
The *agent* of a tool is the part of its name before the first ``_`` (``vaultManager_openNote`` →
``vaultManager``) when other tools share it, else the whole name (``get_tools``). Files are streamed with
:func:`toolset.data.readers.read_conversations` (every format it reads), so memory does not grow with them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs

from toolset.components import ToolCatalog
from toolset.data import Conversation, Finding
from toolset.errors import ToolsetError

KINDS = ("desirable", "undesirable")
NO_NAME = "(no name)"


def agents_of(names: Iterable[str]) -> dict[str, str]:
    """Each tool name's agent: the prefix before ``_`` when at least two tools share it, else the name."""
    names = list(names)
    prefixes = Counter(name.split("_", 1)[0] for name in names if "_" in name)
    return {name: prefix if prefixes[(prefix := name.split("_", 1)[0])] > 1 else name for name in names}


@attrs.define
class Coverage:
    """Counts for one run of ``toolset coverage``; :meth:`add` folds in one conversation."""

    toolset: str
    tools: list[str]
    files: list[str] = attrs.Factory(list)
    examples: Counter[str] = attrs.Factory(Counter)
    calls: dict[str, Counter[str]] = attrs.field(init=False)
    unknown: dict[str, Counter[str]] = attrs.Factory(dict)
    without_calls: Counter[str] = attrs.Factory(Counter)
    multi_call: Counter[str] = attrs.Factory(Counter)
    reader_findings: list[Finding] = attrs.Factory(list)
    _agents: dict[str, str] = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        self._agents = agents_of(self.tools)
        order = list(dict.fromkeys(self._agents[name] for name in self.tools))  # agents by first appearance
        self.tools = sorted(self.tools, key=lambda name: order.index(self._agents[name]))  # stable within one
        self.calls = {name: Counter() for name in self.tools}

    def agent(self, name: str) -> str:
        return self._agents.get(name) or name.split("_", 1)[0]

    def add(self, conversation: Conversation) -> None:
        kind = "undesirable" if conversation.label is False else "desirable"
        self.examples[kind] += 1
        calls = conversation.tool_calls
        if not calls:
            self.without_calls[kind] += 1
        elif len(calls) > 1:
            self.multi_call[kind] += 1
        for call in calls:
            counter = self.calls.get(call.name)
            if counter is None:
                counter = self.unknown.setdefault(call.name or NO_NAME, Counter())
            counter[kind] += 1

    def agents(self) -> dict[str, Counter[str]]:
        """Calls per agent, over the tool set's tools (unknown names are counted apart)."""
        out: dict[str, Counter[str]] = {}
        for name, counter in self.calls.items():
            out.setdefault(self.agent(name), Counter()).update(counter)
        return out

    def to_json(self) -> dict[str, Any]:
        def split(counter: Counter[str]) -> dict[str, int]:
            return {kind: counter[kind] for kind in KINDS}

        by_code = Counter(f.code for f in self.reader_findings)
        return {
            "toolset": self.toolset,
            "files": self.files,
            "examples": {"total": sum(self.examples.values()), **split(self.examples)},
            "tool_calls": {
                "total": sum(sum(c.values()) for c in [*self.calls.values(), *self.unknown.values()]),
                "to_unknown_tools": sum(sum(c.values()) for c in self.unknown.values()),
            },
            "tools": {name: {"agent": self.agent(name), **split(c)} for name, c in self.calls.items()},
            "agents": {agent: split(c) for agent, c in self.agents().items()},
            "tools_without_examples": [name for name, c in self.calls.items() if not c],
            "tools_without_desirable_examples": [name for name, c in self.calls.items() if not c["desirable"]],
            "unknown_tools": {
                name: split(c) for name, c in sorted(self.unknown.items(), key=lambda item: -sum(item[1].values()))
            },
            "examples_without_calls": split(self.without_calls),
            "multi_call_examples": split(self.multi_call),
            "reader_findings": dict(by_code.most_common()),
        }


def coverage_files(
    paths: Sequence[Path],
    *,
    toolset: str = "claudesidian",
    format: str = "auto",
    catalog: ToolCatalog | None = None,
) -> Coverage:
    """Read every file (folders: their ``.jsonl`` / ``.json`` files) and count its tool calls."""
    from toolset.data.readers import read_conversations
    from toolset_schemas.validator import expand_paths, load_catalog

    files = expand_paths(paths)
    catalog = catalog or load_catalog(toolset)
    coverage = Coverage(
        toolset=catalog.name, tools=[tool.name for tool in catalog.tools], files=[str(f) for f in files]
    )
    for file in files:
        for conversation in read_conversations(file, format=format, findings=coverage.reader_findings):
            coverage.add(conversation)
    return coverage


def render(coverage: Coverage) -> Iterator[str]:
    """A terminal report: per-agent and per-tool tables, then the gaps."""
    data = coverage.to_json()
    examples = data["examples"]
    yield (
        f"{examples['total']} example(s) in {len(coverage.files)} file(s) "
        f"({examples['desirable']} desirable, {examples['undesirable']} undesirable), "
        f"{data['tool_calls']['total']} tool call(s), against {coverage.toolset} ({len(coverage.tools)} tools)"
    )
    width = max([len(name) for name in [*data["tools"], *data["unknown_tools"]]] + [20])
    header = f"{'':<{width}} {'desirable':>10} {'undesirable':>12}"
    yield ""
    yield f"{'agent':<{width}} {'desirable':>10} {'undesirable':>12}"
    for agent, counts in data["agents"].items():
        yield f"{agent:<{width}} {counts['desirable']:>10} {counts['undesirable']:>12}"
    yield ""
    yield "tool" + header[4:]
    for name, counts in data["tools"].items():
        yield f"{name:<{width}} {counts['desirable']:>10} {counts['undesirable']:>12}"
    yield ""
    missing = data["tools_without_examples"]
    yield f"tools with no examples: {', '.join(missing) if missing else 'none'}"
    no_desirable = [name for name in data["tools_without_desirable_examples"] if name not in missing]
    if no_desirable:
        yield f"tools with undesirable examples only: {', '.join(no_desirable)}"
    unknown = data["unknown_tools"]
    if unknown:
        yield f"names not in {coverage.toolset} ({len(unknown)}):"
        for name, counts in unknown.items():
            yield f"  {name:<{width}} {counts['desirable']:>10} {counts['undesirable']:>12}"
    else:
        yield f"names not in {coverage.toolset}: none"
    for key, text in (("examples_without_calls", "examples without calls"), ("multi_call_examples", "multi-call")):
        counts = data[key]
        yield f"{text}: {counts['desirable']} desirable, {counts['undesirable']} undesirable"
    if data["reader_findings"]:
        yield "reader findings: " + ", ".join(f"{code} {n}" for code, n in data["reader_findings"].items())


PLOT_FORMATS = (".png", ".svg", ".pdf", ".jpg", ".jpeg", ".webp")


def check_plot_path(path: Path) -> None:
    """A ``--plot`` path matplotlib can write: a known image suffix, and not a folder."""
    if path.suffix.lower() not in PLOT_FORMATS:
        raise ToolsetError(f"--plot {path}: name an image file ({', '.join(PLOT_FORMATS)}), for example coverage.png")
    if path.is_dir():
        raise ToolsetError(f"--plot {path}: a folder; name the image file to write inside it")


def plot(coverage: Coverage, path: Path) -> Path:
    """A horizontal stacked bar chart of calls per tool (then names outside the tool set) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [(name, counts) for name, counts in coverage.calls.items()]
    rows += [(f"{name} (not in tool set)", counts) for name, counts in coverage.unknown.items()]
    names = [name for name, _ in rows]
    desirable = [counts["desirable"] for _, counts in rows]
    undesirable = [counts["undesirable"] for _, counts in rows]
    figure, axes = plt.subplots(figsize=(10, max(3.0, 0.22 * len(rows) + 1.2)))
    positions = list(range(len(rows)))
    axes.barh(positions, desirable, color="#2e7d32", label="desirable")
    axes.barh(positions, undesirable, left=desirable, color="#c62828", label="undesirable")
    axes.set_yticks(positions, labels=names, fontsize=7)
    axes.invert_yaxis()
    axes.set_xlabel("tool calls")
    axes.set_title(f"Calls per tool ({coverage.toolset}; {sum(coverage.examples.values())} examples)")
    axes.legend(loc="lower right")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
