"""The toolset plugin of toolset-schemas (entry point group ``toolset``)."""

from __future__ import annotations

from toolset import hookimpl  # noqa: F401
