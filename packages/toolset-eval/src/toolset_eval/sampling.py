"""Per-call options of ``chat``: the config's values, overridden by the call's, unknown keys refused."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from toolset_eval.errors import BackendError

SAMPLING_KEYS = ("model", "temperature", "top_p", "max_tokens", "seed", "stop")


def merge_options(
    config: Any, options: Mapping[str, Any], *, backend: str, extra: Iterable[str] = ()
) -> dict[str, Any]:
    """Config values for every known key, then the call's ``options``; ``None`` values are left out."""
    known = (*SAMPLING_KEYS, *extra)
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise BackendError(f"{backend} backend: unknown chat option(s) {', '.join(unknown)}; known: {', '.join(known)}")
    merged = {}
    for key in known:
        value = options[key] if key in options else getattr(config, key, None)
        if value is not None:
            merged[key] = value
    return merged


def only_model(models: Sequence[str], *, backend: str, where: str) -> str:
    """The model to use when none is configured: the server's only one, else a clear error."""
    if len(models) == 1:
        return models[0]
    if not models:
        raise BackendError(f"{backend} backend: {where} serves no model; load one, or set model=NAME")
    shown = ", ".join(models[:20]) + (", ..." if len(models) > 20 else "")
    raise BackendError(f"{backend} backend: {where} serves several models ({shown}); choose one with model=NAME")
