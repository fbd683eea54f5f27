"""A fake model hub on 127.0.0.1 (http.server in a thread) and an isolated user data folder."""

from __future__ import annotations

import hashlib
import http.server
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from nanocaption_desktop.modelstore.registry import BUNDLES

SPEC = BUNDLES["vit-gpt2"]


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """User data in tmp_path/data; no model dir, hub or proxy from the environment."""
    data = tmp_path / "data"
    monkeypatch.setenv("NANOCAPTION_DATA_DIR", str(data))
    for name in ("NANOCAPTION_MODEL_DIR", "NANOCAPTION_HUB_URL"):
        monkeypatch.delenv(name, raising=False)
    for name in (
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
    ):
        monkeypatch.delenv(name, raising=False)
    return data


def make_files(seed: int = 1) -> dict[str, bytes]:
    """Small stand-ins for every file of the vit-gpt2 bundle (the ONNX ones a few hundred KB)."""
    files = {}
    for i, f in enumerate(SPEC.files):
        if f.path.endswith(".json"):
            files[f.path] = b'{"fake": "%d"}\n' % i
        else:
            block = hashlib.sha256(b"%d-%d" % (seed, i)).digest()
            files[f.path] = block * (4096 + 1000 * i)  # 128 KiB and up
    return files


@dataclass
class FakeHub:
    """Serves ``/{repo}/resolve/main/{file}`` like the Hugging Face hub.

    ``linked``: send ``X-Linked-Size`` / ``X-Linked-ETag`` (sha256) on the first response;
    ``redirect``: answer the hub URL with a 302 to ``/cdn/...`` (headers on the 302, like the hub);
    ``drop_once``: file -> bytes to send before closing the connection, on the first GET only;
    ``ignore_range``: always send the whole file with 200; ``sha_override``: file -> announced sha.
    """

    files: dict[str, bytes]
    url: str = ""
    linked: bool = True
    redirect: bool = False
    ignore_range: bool = False
    drop_once: dict[str, int] = field(default_factory=dict)
    sha_override: dict[str, str] = field(default_factory=dict)
    wrong_range_once: set[str] = field(default_factory=set)  # answer a Range with bytes 0-...
    requests: list[tuple[str, str | None]] = field(default_factory=list)

    def lookup(self, path: str) -> tuple[str, bytes] | None:
        prefix = f"/{SPEC.repo}/resolve/main/"
        for start in (prefix, "/cdn" + prefix):
            if path.startswith(start) and path[len(start) :] in self.files:
                rel = path[len(start) :]
                return rel, self.files[rel]
        return None


def _handler(hub: FakeHub) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

        def do_GET(self) -> None:
            rng = self.headers.get("Range")
            hub.requests.append((self.path, rng))
            found = hub.lookup(self.path)
            if found is None:
                self._reply(404, b"not found")
                return
            rel, data = found
            linked = {}
            if hub.linked:
                sha = hub.sha_override.get(rel, hashlib.sha256(data).hexdigest())
                linked = {"X-Linked-Size": str(len(data)), "X-Linked-ETag": f'"{sha}"'}
            if hub.redirect and not self.path.startswith("/cdn/"):
                self._reply(302, b"", {"Location": "/cdn" + self.path, **linked})
                return
            headers = {} if hub.redirect else linked
            start = 0
            if rng and rel in hub.wrong_range_once:
                hub.wrong_range_once.discard(rel)
                body = data[: len(data) // 2]
                headers["Content-Range"] = f"bytes 0-{len(body) - 1}/{len(data)}"
                self._reply(206, body, headers)
                return
            if rng and not hub.ignore_range:
                start = int(rng.removeprefix("bytes=").split("-")[0])
                if start >= len(data):
                    self._reply(416, b"", {"Content-Range": f"bytes */{len(data)}", **headers})
                    return
                headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
            body = data[start:]
            status = 206 if start else 200
            drop = hub.drop_once.pop(rel, None)
            if drop is not None:
                self.send_response(status)
                for k, v in {**headers, "Content-Length": str(len(body))}.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body[:drop])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self._reply(status, body, headers)

        def _reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    state = FakeHub(files=make_files())
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"
