"""One window per user profile: a second launch hands its files to the running window.

The running window listens on a ``QLocalServer`` whose name is per user and per data folder
(``NANOCAPTION_DATA_DIR`` moves both, so test runs and a person's own window never meet). A new
launch first tries to connect (``hand_over``): when a window answers, the launch sends its paths
as one JSON line, waits for ``ok`` and exits 0 without loading a model; the window opens the
paths and comes to the front. When nothing answers (no window, a stale socket left by a crash,
a server that does not reply), the launch starts normally and takes over the name
(``InstanceServer.listen`` replaces a stale socket, never one a window answers on).
"""

from __future__ import annotations

import getpass
import hashlib
import json
import logging
import os

from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

log = logging.getLogger(__name__)

CONNECT_MS = 500  # a live server accepts at once; this only bounds a wedged one
REPLY_MS = 3000
MAX_MESSAGE = 1 << 20  # a command line's worth of paths


def server_name() -> str:
    """``nanocaption-<user>-<hash of the user data folder>``: one per person and profile."""
    from ..ground.paths import user_data_dir

    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name (a container): the uid still separates
        user = str(getattr(os, "getuid", lambda: 0)())
    folder = os.path.realpath(user_data_dir())
    digest = hashlib.sha256(f"{user}\0{folder}".encode("utf-8", "replace")).hexdigest()[:16]
    safe = "".join(c for c in user if c.isalnum())[:24] or "user"
    return f"nanocaption-{safe}-{digest}"


def encode(paths: list[str]) -> bytes:
    return (json.dumps({"paths": [os.path.abspath(p) for p in paths]}) + "\n").encode("utf-8")


def decode(raw: bytes) -> list[str]:
    """The paths of one message; ValueError for anything that is not one."""
    message = json.loads(raw.decode("utf-8"))
    paths = message.get("paths") if isinstance(message, dict) else None
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        raise ValueError("not a list of paths")
    return paths


def hand_over(paths: list[str], name: str | None = None) -> bool:
    """Give ``paths`` to a running window; True when it took them (this launch may exit)."""
    socket = QLocalSocket()
    socket.connectToServer(name or server_name())
    if not socket.waitForConnected(CONNECT_MS):
        return False
    try:
        socket.write(encode(paths))
        if not socket.waitForBytesWritten(REPLY_MS):
            return False
        reply = b""
        while not reply.endswith(b"\n") and socket.waitForReadyRead(REPLY_MS):
            reply += bytes(socket.readAll().data())
        return reply.strip() == b"ok"
    finally:
        socket.abort()


def _answers(name: str) -> bool:
    socket = QLocalSocket()
    socket.connectToServer(name)
    try:
        return socket.waitForConnected(CONNECT_MS)
    finally:
        socket.abort()


class InstanceServer(QObject):
    """The running window's end: ``paths_received`` for each launch that handed over."""

    paths_received = Signal(object)  # list of absolute paths (may be empty: just come forward)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.server = QLocalServer(self)
        self.server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        self.server.newConnection.connect(self._accept)
        self._buffers: dict[QLocalSocket, bytes] = {}

    def listen(self, name: str | None = None) -> bool:
        name = name or server_name()
        # first: does a window serve already (one started at the same moment)? Qt's listen()
        # replaces a socket file whoever owns it, and would orphan that window's server
        if _answers(name):
            log.info("single instance: %s is served by another window", name)
            return False
        if self.server.listen(name):
            return True
        # a socket file left by a crashed window: nobody answers on it, so it is ours to remove
        QLocalServer.removeServer(name)
        if self.server.listen(name):
            return True
        log.warning("single instance: cannot listen on %s: %s", name, self.server.errorString())
        return False

    def close(self) -> None:
        self.server.close()

    def _accept(self) -> None:
        while self.server.hasPendingConnections():
            socket = self.server.nextPendingConnection()
            self._buffers[socket] = b""
            socket.readyRead.connect(lambda s=socket: self._read(s))
            socket.disconnected.connect(lambda s=socket: self._forget(s))

    def _read(self, socket: QLocalSocket) -> None:
        data = self._buffers.get(socket, b"") + bytes(socket.readAll().data())
        if b"\n" not in data:
            if len(data) > MAX_MESSAGE:
                self._forget(socket)
            else:
                self._buffers[socket] = data
            return
        line = data.split(b"\n", 1)[0]
        try:
            paths = decode(line)
        except (ValueError, UnicodeDecodeError) as e:
            log.warning("single instance: ignored a message that is not paths: %s", e)
            socket.write(b"error\n")
            socket.flush()
            self._forget(socket)
            return
        socket.write(b"ok\n")
        socket.flush()
        self._buffers[socket] = b""  # done; forgotten when the launch hangs up
        self.paths_received.emit(paths)

    def _forget(self, socket: QLocalSocket) -> None:
        if self._buffers.pop(socket, None) is not None:
            socket.disconnectFromServer()
            socket.deleteLater()
