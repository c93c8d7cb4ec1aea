"""The toolset plugin of toolset-cuda (entry point group ``toolset``)."""

from __future__ import annotations

from toolset import hookimpl  # noqa: F401
