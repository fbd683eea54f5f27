"""Object-store inputs of a batch on a Ray cluster: ``s3://``, ``gs://`` and ``file://`` URIs,
as the batch's folder or as lines of its file list, through pyarrow's filesystems (the ones
Ray Data reads with; ``pyarrow.fs.FileSystem.from_uri``).

The driver lists a folder URI once (``FileSelector``, recursive with ``--recursive``): the
files whose extension is an image's (an object is never sniffed), hidden ones (a path part
starting with ``.``) left out, in the natural order of their paths, as a local folder's walk
orders them. Each entry's key (journal, CSV/JSONL ``path``) is its path relative to the folder
URI, and its change signature is the listing's size and modification time (``FileInfo``), in
place of a ``stat``. A URI line of a file list is looked up on its own (``get_file_info``); its
key is the URI as written; one that is missing fails that line only. The workers read each
object's bytes through the same filesystem object (pickled with the task: credentials come from
each node's environment, the usual AWS/GCS chain) and decode them in the usual decoder.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

from ..ground.errors import ClusterError
from ..jobs.filelist import ListedFile, is_uri, listed_entries
from ..jobs.scan import ScanEntry, allowed_extensions, natural_key
from ..jobs.spec import BatchSpec

log = logging.getLogger(__name__)


class Inputs:
    """A batch's URI inputs, listed once at the driver: ``entries`` (None when the batch has no
    URI: its usual scan runs), the ``filesystems`` the workers read with and, per entry path
    (its URI), ``remote[uri] = (filesystem index, path in that filesystem)``."""

    def __init__(self) -> None:
        self.entries: list[ScanEntry] | None = None
        self.filesystems: list[Any] = []
        self.remote: dict[str, tuple[int, str]] = {}
        self._by_root: dict[str, tuple[int, bool]] = {}  # scheme://netloc?query -> (index, derive)

    @classmethod
    def of(cls, spec: BatchSpec) -> Inputs:
        """The inputs of a checked spec (``ClusterError`` naming a folder URI that cannot be
        listed)."""
        inputs = cls()
        if not spec.uris:
            return inputs
        if spec.files is not None:
            inputs.entries = list(listed_entries(spec.folder, spec.files, inputs.listed_uri))
        else:
            inputs.entries = inputs.list_folder(spec.folder, recursive=spec.recursive)
        return inputs

    def scan(self) -> Iterator[ScanEntry]:
        assert self.entries is not None
        return iter(self.entries)

    def where(self, path: str) -> tuple[int, str]:
        """``(filesystem index, path)`` a worker reads ``path`` from (-1: a local path)."""
        return self.remote.get(path, (-1, path))

    def list_folder(self, uri: str, *, recursive: bool) -> list[ScanEntry]:
        from pyarrow import fs as pafs

        index, root = self.filesystem(uri)
        prefix = root.rstrip("/") + "/"
        selector = pafs.FileSelector(root, recursive=recursive)
        try:
            infos = self.filesystems[index].get_file_info(selector)
        except (OSError, ValueError) as e:
            raise ClusterError(uri, f"cannot list it ({_first_line(e)})") from e
        allowed = allowed_extensions()
        found = []
        for info in infos:
            rel = info.path[len(prefix) :] if info.path.startswith(prefix) else info.path
            if info.type != pafs.FileType.File or any(p.startswith(".") for p in rel.split("/")):
                continue
            if os.path.splitext(rel)[1].lower() in allowed:
                found.append((rel, info))
        found.sort(key=lambda x: tuple(natural_key(part) for part in x[0].split("/")))
        base = uri.split("?", 1)[0].rstrip("/")
        entries = []
        for rel, info in found:
            path = f"{base}/{rel}"
            self.remote[path] = (index, info.path)
            entries.append(ScanEntry(path, rel, signature=_signature(info)))
        log.info("%s: %d images listed", uri, len(entries))
        return entries

    def listed_uri(self, item: ListedFile) -> ScanEntry:
        """The entry of a URI line of a file list; one that cannot be found has no signature,
        so the run fails that line (``LIST line N: cannot be read ...``)."""
        from pyarrow import fs as pafs

        entry = ScanEntry(item.text, item.text, origin=item.origin)
        try:
            index, path = self.filesystem(item.text)
            info = self.filesystems[index].get_file_info(path)
        except (OSError, ValueError, ClusterError) as e:
            log.warning("%s: %s: %s", item.origin, item.text, _first_line(e))
            return entry
        if info.type != pafs.FileType.File:
            return entry
        self.remote[item.text] = (index, info.path)
        return ScanEntry(item.text, item.text, origin=item.origin, signature=_signature(info))

    def filesystem(self, uri: str) -> tuple[int, str]:
        """The index of ``uri``'s filesystem (one per bucket) and the path in it."""
        from pyarrow import fs as pafs

        parts = urlsplit(uri)
        root = f"{parts.scheme}://{parts.netloc}?{parts.query}"
        known = self._by_root.get(root)
        if known is not None and known[1]:
            return known[0], _fs_path(uri)
        try:
            fs, path = pafs.FileSystem.from_uri(uri)
        except (OSError, ValueError) as e:
            raise ClusterError(uri, f"cannot open its filesystem ({_first_line(e)})") from e
        if known is not None:
            return known[0], path
        self.filesystems.append(fs)
        # the next URIs of this bucket skip from_uri (an S3 region lookup each) when the path
        # is what pyarrow makes of it
        self._by_root[root] = (len(self.filesystems) - 1, _fs_path(uri) == path)
        return len(self.filesystems) - 1, path


def _fs_path(uri: str) -> str:
    parts = urlsplit(uri)
    path = unquote(parts.path)
    return path if parts.scheme.lower() == "file" else parts.netloc + path


def _signature(info: Any) -> tuple[int, int]:
    mtime = info.mtime_ns
    return int(info.size or 0), -1 if mtime is None else int(mtime)


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


__all__ = ["Inputs", "is_uri"]
