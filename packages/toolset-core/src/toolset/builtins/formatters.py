"""Built-in formatters: ``sft`` (TRL conversational rows) and ``kto`` (prompt / completion / label rows)."""

from __future__ import annotations

from collections.abc import Iterable

from toolset.components import Formatter
from toolset.data import Conversation
from toolset.data.formatters import FormatResult, FormatterConfig, format_kto, format_sft
from toolset.hookspecs import hookimpl


def sft_rows(conversations: Iterable[Conversation], config: FormatterConfig | None) -> FormatResult:
    return format_sft(conversations, config)


def kto_rows(conversations: Iterable[Conversation], config: FormatterConfig | None) -> FormatResult:
    return format_kto(conversations, config)


@hookimpl
def register_formatters(register):
    register(
        Formatter(
            name="sft",
            description="Conversations to TRL conversational rows {messages, tools} (loss on assistant turns)",
            config=FormatterConfig,
            factory=sft_rows,
        )
    )
    register(
        Formatter(
            name="kto",
            description="Conversations to KTO rows {prompt, completion, label}: the final assistant turn is judged",
            config=FormatterConfig,
            factory=kto_rows,
        )
    )
