"""HTTP plumbing shared by the server backends: base-URL resolution and a JSON client with clear errors."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from toolset_eval.errors import BackendConnectionError, BackendError, BackendResponseError, BackendTimeoutError

_WILDCARD_HOSTS = {"0.0.0.0": "127.0.0.1", "::": "::1"}  # bind-all addresses, as a client means "this machine"
_ERRNO_TEXT = re.compile(r"\[Errno -?\d+\] ([^'\"()\]]+)")


def resolve_url(host: str | None, port: int | None, *, env_var: str, default: str, default_port: int) -> str:
    """The base URL from ``host`` (config), else ``$env_var``, else ``default``; ``port`` overrides the port.

    ``host`` may be a URL or ``host:port`` / ``host`` without scheme (then http and ``default_port``). With an
    explicit scheme and no port, the scheme's own port applies, as in Ollama's handling of ``OLLAMA_HOST``.
    """
    text = (host or os.environ.get(env_var) or default).strip()
    origin = f"host {host!r}" if host else f"{env_var}={text!r}" if os.environ.get(env_var) else repr(text)
    explicit_scheme = "://" in text
    parts = urlsplit(text if explicit_scheme else f"http://{text}")
    if parts.scheme not in ("http", "https"):
        raise BackendError(f"{origin}: unsupported scheme {parts.scheme!r} (use http:// or https://)")
    try:
        url_port = parts.port
    except ValueError:
        raise BackendError(f"{origin}: the port is not a number between 0 and 65535") from None
    hostname = parts.hostname or "127.0.0.1"
    hostname = _WILDCARD_HOSTS.get(hostname, hostname)
    chosen_port = port if port is not None else url_port if url_port is not None else None
    if chosen_port is None and not explicit_scheme:
        chosen_port = default_port
    netloc = f"[{hostname}]" if ":" in hostname else hostname
    if chosen_port is not None:
        netloc = f"{netloc}:{chosen_port}"
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def openai_base_url(host: str | None, port: int | None, *, env_var: str, default_port: int) -> str:
    """:func:`resolve_url` for an OpenAI-compatible server: ``/v1`` is added to a URL without a path."""
    base = resolve_url(host, port, env_var=env_var, default="127.0.0.1", default_port=default_port)
    return base if urlsplit(base).path else base + "/v1"


def _reason(exc: BaseException) -> str:
    text = str(exc)
    if "RemoteDisconnected" in text or "Connection aborted" in text:
        return "the server closed the connection without answering"
    match = _ERRNO_TEXT.search(text)
    if match:
        return match.group(1).strip().lower()
    return type(exc).__name__


class JsonClient:
    """GET/POST JSON to one server through a lazily created ``requests.Session`` (connections are reused).

    ``what`` names the server in messages; ``hint`` is appended to connection errors. Headers (the API key)
    never appear in messages.
    """

    def __init__(
        self,
        base_url: str,
        *,
        what: str,
        timeout_s: float,
        connect_timeout_s: float,
        headers: Mapping[str, str] | None = None,
        hint: str = "",
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.what = what
        self.timeout = (connect_timeout_s, timeout_s)
        self.hint = hint
        self._headers = dict(headers or {})
        self._session: Any = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_url!r})"

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def post(self, path: str, body: Mapping[str, Any]) -> Any:
        return self.request("POST", path, body)

    def request(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        import requests

        if self._session is None:
            self._session = requests.Session()
            self._session.headers.update(self._headers)
        url = self.base_url + path
        try:
            response = self._session.request(method, url, json=body, timeout=self.timeout)
        except requests.exceptions.ConnectTimeout:
            raise BackendTimeoutError(
                f"{self.what} at {url}: no connection within {self.timeout[0]:g} s (connect_timeout_s){self.hint}"
            ) from None
        except requests.exceptions.Timeout:
            raise BackendTimeoutError(
                f"{self.what} at {url} did not answer within {self.timeout[1]:g} s (raise timeout_s if the model "
                "is slow or still loading)"
            ) from None
        except requests.exceptions.ChunkedEncodingError:  # the answer was cut off mid-transfer: worth a retry
            raise BackendConnectionError(
                f"{self.what} at {url}: the connection broke while the answer was being read{self.hint}"
            ) from None
        except requests.exceptions.ConnectionError as exc:
            raise BackendConnectionError(
                f"cannot connect to {self.what} at {url} ({_reason(exc)}): is the server running?{self.hint}"
            ) from None
        except requests.exceptions.RequestException as exc:
            raise BackendError(f"{self.what} at {url}: {type(exc).__name__}: {exc}") from None
        if response.status_code >= 400:
            raise BackendResponseError(
                f"{self.what} at {url} answered HTTP {response.status_code}: {_error_text(response)}"
                + (" (check the API key)" if response.status_code in (401, 403) else ""),
                status=response.status_code,
            )
        try:
            return response.json()
        except ValueError:
            raise BackendResponseError(
                f"{self.what} at {url} answered with something that is not JSON: {response.text[:200]!r}"
            ) from None


def _error_text(response: Any) -> str:
    """The server's own error message: Ollama ``{"error": str}``, OpenAI ``{"error": {"message"}}``, FastAPI."""
    try:
        payload = response.json()
    except ValueError:
        return response.text.strip()[:300] or response.reason or "no message"
    if isinstance(payload, dict):
        error = payload.get("error", payload.get("detail"))
        if isinstance(error, dict):
            error = error.get("message", error)
        if error is not None:
            return error if isinstance(error, str) else json.dumps(error)[:300]
    return json.dumps(payload)[:300]
