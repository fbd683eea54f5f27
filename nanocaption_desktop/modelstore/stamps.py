"""What this app remembers having verified: one fingerprint of file states per checked thing.

Hashing a full bundle (~250 MB) at every start would cost start-up time, so a bundle whose files
were hashed and matched is remembered by a fingerprint of their states, and hashed again only
when a state changes. A file's state is (size, mtime, inode, ctime): the first three a writer
can set back (rewrite in place keeping the length, then ``os.utime`` with the old mtime), but
not ``st_ctime_ns``, which the kernel moves to "now" on every write, ``utime``, ``chmod``,
rename or link, through any of the file's names. Used for bundle manifests and probes
(``trust.py``) and for derived copies (``engine/derive/``): keys ``<bundle>``,
``probe:<bundle>``, ``derived:<folder>``. A failed check forgets the key (`forget`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from pathlib import Path

from ..ground.durable import write_atomically

log = logging.getLogger(__name__)

__all__ = ["file_state", "fingerprint", "forget", "recall", "remember"]


def file_state(path: Path) -> str:
    """The writer-visible state of one file, the link itself for a symlink (OSError if gone)."""
    st = path.lstat()
    return f"{st.st_size}\0{st.st_mtime_ns}\0{st.st_ino}\0{st.st_ctime_ns}"


def fingerprint(items: Iterable[tuple[str, Path]], head: bytes = b"") -> str:
    """SHA-256 over `head` (a manifest's bytes) and each ``(name, path)``'s name and state."""
    h = hashlib.sha256(head)
    for name, path in items:
        h.update(f"{name}\0{file_state(path)}\0".encode())
    return h.hexdigest()


def _stamp_file() -> Path:
    from ..ground.paths import user_data_dir

    return user_data_dir() / "verified-bundles.json"


def _read() -> dict[str, str]:
    try:
        data = json.loads(_stamp_file().read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def recall(key: str) -> str | None:
    """The fingerprint remembered for `key`, or None."""
    value = _read().get(key)
    return value if isinstance(value, str) else None


def _write(stamps: dict[str, str]) -> None:
    target = _stamp_file()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(target, json.dumps(stamps, indent=1).encode("utf-8"))
    except OSError as e:  # a read-only home only costs a re-hash next time
        log.info("cannot update %s: %s", target, e)


def remember(key: str, value: str) -> None:
    stamps = _read()
    stamps[key] = value
    _write(stamps)


def forget(*keys: str) -> None:
    """Drop what was remembered under `keys` (after a failed check: the next load hashes again)."""
    stamps = _read()
    if any(k in stamps for k in keys):
        _write({k: v for k, v in stamps.items() if k not in keys})
