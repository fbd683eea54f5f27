"""Download one file over HTTP(S) into a ``.part`` file, resuming it with a Range request.

Standard library only (urllib): proxies come from the usual environment variables, HTTPS
certificates are verified with the system's trust store, redirects are followed (the hub sends
large files to a CDN) and the headers of the first response are kept, because that is where the
Hugging Face hub reports a large file's size (``X-Linked-Size``) and SHA-256 (``X-Linked-ETag``).
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import re
import socket
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any, Protocol

from ..ground.errors import Cancelled
from ..ground.hashing import hash_file
from ..ground.version import __version__

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, "int | None", str], None]  # (bytes done, bytes total or None, file)
_CHUNK = 1 << 16
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_CONTENT_RANGE = re.compile(r"^bytes\s+(\d+)-(\d+)/(\d+|\*)$|^bytes\s+\*/(\d+)$")


class CancelFlag(Protocol):
    def is_set(self) -> bool: ...


class Unreachable(Exception):
    """No HTTP response at all: DNS failure, connection refused, connect timeout, TLS failure."""


class Interrupted(Exception):
    """The transfer stopped part-way; the ``.part`` file holds what arrived."""


class Rejected(Exception):
    """The server answered with an error status, or the file failed its size or hash check."""


@dataclass(frozen=True)
class Expected:
    """What the file must be. Every value that is known must match."""

    size: int | None = None
    sha256: str | None = None


class _RecordingRedirects(urllib.request.HTTPRedirectHandler):
    """Follows redirects and keeps the headers of the first response (the hub's own)."""

    def __init__(self) -> None:
        self.first_headers: Message | None = None

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str):  # type: ignore[no-untyped-def]
        if self.first_headers is None:
            self.first_headers = headers
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def hub_metadata(first: Message | None, final: Message | None) -> Expected:
    """Size and SHA-256 announced by the hub: ``X-Linked-*`` anywhere, or a sha256-looking ETag on
    the first response (the final response may come from a CDN whose ETag is something else)."""
    size = sha = None
    for headers in (first, final):
        if headers is None:
            continue
        linked_size = headers.get("X-Linked-Size")
        if size is None and linked_size and linked_size.strip().isdigit():
            size = int(linked_size)
        linked_etag = _etag(headers.get("X-Linked-ETag"))
        if sha is None and linked_etag:
            sha = linked_etag
    if sha is None:
        sha = _etag((first or final or Message()).get("ETag"))
    return Expected(size, sha)


def _etag(value: str | None) -> str | None:
    if not value:
        return None
    value = value.strip()
    value = value[2:] if value.startswith("W/") else value
    value = value.strip('"').lower()
    return value if _SHA256.match(value) else None


def download(
    url: str,
    part: Path,
    *,
    name: str,
    pinned: Expected = Expected(),
    progress: ProgressFn | None = None,
    cancel: CancelFlag | None = None,
    timeout: float = 10.0,
) -> tuple[int, str]:
    """Append the rest of ``url`` to ``part`` (Range from its current size) and check it.

    Returns ``(size, sha256)``. Raises Unreachable, Interrupted (the ``.part`` file is kept for
    resuming), Rejected (a bad file is deleted), Cancelled.
    """
    offset = part.stat().st_size if part.exists() else 0
    redirects = _RecordingRedirects()
    opener = urllib.request.build_opener(redirects)  # + the default ProxyHandler, HTTPS handler
    headers = {"User-Agent": f"nanocaption-desktop/{__version__}", "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = opener.open(request, timeout=timeout)
    except urllib.error.HTTPError as e:
        e.close()
        if e.code == 416 and offset:  # nothing after our offset: maybe the file is complete
            announced = hub_metadata(redirects.first_headers, e.headers)
            total = _range_total(e.headers.get("Content-Range"))
            if total is None and announced.size is None and pinned.size is None:
                part.unlink(missing_ok=True)  # cannot tell whether it is complete: start over
                raise Interrupted(f"{name}: the server refused to resume; starting over") from e
            return _finish(part, name, [pinned, announced, Expected(total)], hash_file(part))
        if e.code >= 500 or e.code in (408, 429):  # transient: keep the .part file
            raise Interrupted(f"{name}: the server answered {e.code} {e.reason}") from e
        raise Rejected(f"the server answered {e.code} {e.reason} for {url}") from e
    except urllib.error.URLError as e:
        raise Unreachable(_reason(e.reason)) from e
    except (OSError, http.client.HTTPException) as e:
        raise Unreachable(_reason(e)) from e

    with response:
        announced = hub_metadata(redirects.first_headers, response.headers)
        start, total = _body_range(response, offset, part)
        total = total if total is not None else announced.size
        if start != offset:
            log.info("%s: the server sent the whole file again; starting %s over", url, name)
        digest = hash_file(part) if start else hashlib.sha256()
        done = start
        _report(progress, done, total, name)
        with open(part, "r+b" if start else "wb") as out:
            out.seek(start)
            out.truncate()
            while True:
                if cancel is not None and cancel.is_set():
                    raise Cancelled("download cancelled; run models fetch again to resume")
                try:
                    chunk = response.read(_CHUNK)
                except (OSError, http.client.HTTPException) as e:
                    raise Interrupted(
                        f"{name}: the connection broke after {done} bytes ({_reason(e)})"
                    ) from e
                if not chunk:
                    break
                out.write(chunk)  # a disk error here is an OSError for the caller, not a retry
                digest.update(chunk)
                done += len(chunk)
                _report(progress, done, total, name)
        if total is not None and done < total:
            raise Interrupted(f"{name}: the connection closed after {done} of {total} bytes")
    return _finish(part, name, [pinned, announced, Expected(total)], digest)


def _finish(part: Path, name: str, expectations: list[Expected], digest: Any) -> tuple[int, str]:
    size = part.stat().st_size
    sha = digest.hexdigest()
    for want in expectations:
        problem = None
        if want.size is not None and size != want.size:
            problem = f"{name}: got {size} bytes, expected {want.size}"
        elif want.sha256 is not None and sha != want.sha256.lower():
            problem = f"{name}: SHA-256 {sha} does not match the expected {want.sha256.lower()}"
        if problem:
            part.unlink(missing_ok=True)
            raise Rejected(problem + "; the downloaded file was deleted")
    return size, sha


def _body_range(response: Any, offset: int, part: Path) -> tuple[int, int | None]:
    """Where the body starts in the file and the file's total size (None if unknown)."""
    length = response.headers.get("Content-Length")
    length_n = int(length) if length and length.strip().isdigit() else None
    if response.status == 206:
        match = _CONTENT_RANGE.match((response.headers.get("Content-Range") or "").strip())
        if match and match.group(1) is not None:
            first = int(match.group(1))
            total = match.group(3)
            if first == offset:
                return first, (int(total) if total != "*" else None)
        response.close()
        part.unlink(missing_ok=True)  # start this file over rather than trust the bytes we have
        raise Interrupted("the server answered a resume request with an unexpected range")
    return 0, length_n  # 200: a server that ignores Range sends everything


def _range_total(value: str | None) -> int | None:
    match = _CONTENT_RANGE.match((value or "").strip())
    if not match:
        return None
    total = match.group(4) or match.group(3)
    return int(total) if total and total != "*" else None


def _report(progress: ProgressFn | None, done: int, total: int | None, name: str) -> None:
    if progress is not None:
        progress(done, total, name)


def _reason(error: object) -> str:
    if isinstance(error, socket.gaierror):
        return f"host name not found: {error.strerror or error}"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, (TimeoutError, socket.timeout)):
        return "timed out"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__
