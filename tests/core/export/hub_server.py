"""A local stand-in for the Hugging Face Hub on 127.0.0.1, speaking the part of its HTTP API that
huggingface_hub's ``create_repo``, ``upload_folder`` and ``upload_file`` use without Xet storage:

- ``POST /api/repos/create``                       create a repository (409 when it exists)
- ``POST /api/validate-yaml``                      check a model card's metadata
- ``POST /api/models/OWNER/NAME/preupload/REV``   "regular" (inline) or "lfs" for each file
- ``POST /OWNER/NAME.git/info/lfs/objects/batch``  Git LFS batch API, basic transfer
- ``PUT  <upload href>`` / ``POST <verify href>``  the LFS object itself (a storage URL on the real Hub)
- ``POST /api/models/OWNER/NAME/commit/REV``       ndjson commit: header, inline files, LFS pointers
- ``GET  /api/whoami-v2``                           the token's user
- ``GET  /api/agent-harnesses``                     the registry huggingface_hub reads for its user agent

Every request is recorded (method, path, Authorization header) for the tests to inspect.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import attrs

LFS_THRESHOLD = 10 * 2**20  # the Hub stores files from 10 MB on, and binary model files, in LFS
LFS_SUFFIXES = (".gguf", ".safetensors", ".bin", ".pt", ".pth", ".npz", ".onnx")
_REPO = r"(?P<repo>[^/]+/[^/]+)"


@attrs.define
class Request:
    method: str
    path: str
    authorization: str | None


@attrs.define
class HubState:
    token: str
    user: str = "me"
    repos: dict[str, dict[str, Any]] = attrs.Factory(dict)  # repo id -> {"private": bool, "files": {path: bytes}}
    lfs: dict[str, bytes] = attrs.Factory(dict)  # sha256 -> content
    commits: list[dict[str, Any]] = attrs.Factory(list)
    requests: list[Request] = attrs.Factory(list)
    unexpected: list[str] = attrs.Factory(list)
    lock: threading.Lock = attrs.Factory(threading.Lock)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet: pytest shows failures anyway
        pass

    # --- plumbing ---

    def _body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _reply(self, status: int, payload: Any = None, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload if payload is not None else {}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _authorized(self) -> bool:
        if self.headers.get("Authorization") == f"Bearer {self.server.state.token}":
            return True
        self._reply(401, {"error": "Invalid credentials in Authorization header"})
        return False

    def _repo_or_404(self, repo: str) -> dict[str, Any] | None:
        found = self.server.state.repos.get(repo)
        if found is None:
            self._reply(404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"})
        return found

    def _handle(self, method: str) -> None:
        state = self.server.state
        body = self._body() if method in ("POST", "PUT") else b""
        with state.lock:
            state.requests.append(Request(method, self.path, self.headers.get("Authorization")))
            path = self.path.split("?", 1)[0]
            for pattern, handler in self.server.routes:
                match = re.fullmatch(pattern, f"{method} {path}")
                if match:
                    handler(self, body, **match.groupdict())
                    return
            state.unexpected.append(f"{method} {self.path}")
            self._reply(404, {"error": f"no route for {method} {path}"})

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    # --- the Hub API ---

    def whoami(self, body: bytes) -> None:
        if self._authorized():
            self._reply(200, {"type": "user", "name": self.server.state.user, "auth": {"type": "access_token"}})

    def agent_harnesses(self, body: bytes) -> None:
        self._reply(200, {"standardEnvVars": [], "harnesses": {}})

    def create_repo(self, body: bytes) -> None:
        if not self._authorized():
            return
        payload = json.loads(body)
        repo = f"{payload.get('organization') or self.server.state.user}/{payload['name']}"
        url = f"{self.server.base_url}/{repo}"
        if repo in self.server.state.repos:
            self._reply(409, {"error": "You already created this model repo", "url": url})
            return
        private = payload.get("visibility", "private" if payload.get("private") else "public") == "private"
        self.server.state.repos[repo] = {"private": private, "type": payload.get("type") or "model", "files": {}}
        self._reply(200, {"url": url, "name": repo})

    def validate_yaml(self, body: bytes) -> None:
        if self._authorized():
            content = json.loads(body).get("content", "")
            ok = content.startswith("---\n") and "\n---\n" in content[4:]
            errors = [] if ok else [{"message": "the model card has no YAML metadata block"}]
            self._reply(200 if ok else 400, {"errors": errors, "warnings": []})

    def preupload(self, body: bytes, repo: str, revision: str) -> None:
        if not self._authorized() or self._repo_or_404(repo) is None:
            return
        files = []
        for item in json.loads(body)["files"]:
            lfs = item["size"] >= LFS_THRESHOLD or item["path"].endswith(LFS_SUFFIXES)
            files.append({"path": item["path"], "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False})
        self._reply(200, {"files": files, "commitOid": "0" * 40})

    def lfs_batch(self, body: bytes, repo: str) -> None:
        if not self._authorized() or self._repo_or_404(repo) is None:
            return
        payload = json.loads(body)
        if payload.get("operation") != "upload" or "basic" not in payload.get("transfers", ["basic"]):
            self._reply(422, {"message": "only basic uploads are served here"})
            return
        objects = []
        for item in payload["objects"]:
            entry = {"oid": item["oid"], "size": item["size"], "authenticated": True}
            if item["oid"] not in self.server.state.lfs:
                entry["actions"] = {
                    "upload": {"href": f"{self.server.base_url}/_storage/{item['oid']}", "header": {}},
                    "verify": {"href": f"{self.server.base_url}/{repo}.git/info/lfs/objects/verify", "header": {}},
                }
            objects.append(entry)
        self._reply(200, {"transfer": "basic", "objects": objects})

    def storage_put(self, body: bytes, oid: str) -> None:
        # a pre-signed storage URL on the real Hub: no Authorization header is expected here
        if hashlib.sha256(body).hexdigest() != oid:
            self._reply(400, {"error": "content does not match its sha256"})
            return
        self.server.state.lfs[oid] = body
        self._reply(200, {})

    def lfs_verify(self, body: bytes, repo: str) -> None:
        if not self._authorized():
            return
        item = json.loads(body)
        stored = self.server.state.lfs.get(item["oid"])
        self._reply(200 if stored is not None and len(stored) == item["size"] else 404, {})

    def commit(self, body: bytes, repo: str, revision: str) -> None:
        if not self._authorized():
            return
        found = self._repo_or_404(repo)
        if found is None:
            return
        if self.headers.get("Content-Type") != "application/x-ndjson":
            self._reply(400, {"error": "a commit is sent as application/x-ndjson"})
            return
        header, changes = None, {}
        for line in body.decode().splitlines():
            item = json.loads(line)
            value = item["value"]
            if item["key"] == "header":
                header = value
            elif item["key"] == "file":
                changes[value["path"]] = base64.b64decode(value["content"])
            elif item["key"] == "lfsFile":
                if value["oid"] not in self.server.state.lfs:
                    self._reply(422, {"error": f"LFS object {value['oid']} of {value['path']} was never uploaded"})
                    return
                changes[value["path"]] = self.server.state.lfs[value["oid"]]
            else:
                self._reply(422, {"error": f"unexpected commit operation {item['key']}"})
                return
        if header is None:
            self._reply(422, {"error": "the commit has no header line"})
            return
        found["files"].update(changes)
        oid = hashlib.sha1(body).hexdigest()
        self.server.state.commits.append({"repo": repo, "summary": header.get("summary"), "files": sorted(changes)})
        self._reply(
            200, {"success": True, "commitOid": oid, "commitUrl": f"{self.server.base_url}/{repo}/commit/{oid}"}
        )


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: HubState
    base_url: str
    routes = (
        (r"GET /api/whoami-v2", _Handler.whoami),
        (r"GET /api/agent-harnesses", _Handler.agent_harnesses),
        (r"POST /api/repos/create", _Handler.create_repo),
        (r"POST /api/validate-yaml", _Handler.validate_yaml),
        (rf"POST /api/models/{_REPO}/preupload/(?P<revision>[^/]+)", _Handler.preupload),
        (rf"POST /{_REPO}\.git/info/lfs/objects/batch", _Handler.lfs_batch),
        (rf"POST /{_REPO}\.git/info/lfs/objects/verify", _Handler.lfs_verify),
        (r"PUT /_storage/(?P<oid>[0-9a-f]{64})", _Handler.storage_put),
        (rf"POST /api/models/{_REPO}/commit/(?P<revision>[^/]+)", _Handler.commit),
    )


class LocalHub:
    """``with LocalHub(token) as hub:`` serves on ``hub.url`` until the block ends; ``hub.state`` holds what
    arrived."""

    def __init__(self, token: str) -> None:
        self.state = HubState(token=token)
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.state = self.state
        self.url = self._server.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> LocalHub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
