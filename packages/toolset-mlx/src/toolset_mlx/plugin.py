"""The toolset plugin of toolset-mlx (entry point group ``toolset``)."""

from __future__ import annotations

from toolset import hookimpl  # noqa: F401
