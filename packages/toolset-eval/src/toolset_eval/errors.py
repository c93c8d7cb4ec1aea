"""Errors of the evaluation backends: all are ToolsetErrors, shown by the CLI without a traceback."""

from __future__ import annotations

from toolset.errors import ToolsetError


class BackendError(ToolsetError):
    """A backend could not answer: bad option, server error, malformed reply."""


class BackendConnectionError(BackendError):
    """Nothing answers at the backend's URL (server not running, wrong host or port)."""


class BackendTimeoutError(BackendError):
    """The server did not connect or answer within the configured timeout."""


class BackendResponseError(BackendError):
    """The server answered with an HTTP error or a reply that is not what its protocol documents.

    ``status`` is the HTTP status of an error answer (``None`` for a malformed reply).
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status
