"""The package's own error types: every failure a caller can meet is one of these (ground layer:
every layer raises them; `engine.errors` re-exports them for the public API)."""

from __future__ import annotations


class NanoCaptionError(Exception):
    """Base class of every error this package raises on purpose."""


class ImageError(NanoCaptionError):
    """An image could not be read. ``source`` names the file (or "<bytes>"), ``reason`` says why."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


class ModelError(NanoCaptionError):
    """A model bundle is missing, incomplete or broken. ``path`` names the file or folder."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class RequestError(NanoCaptionError, ValueError):
    """A caller asked for something out of range (beams, max new tokens, pixel values): the
    caller's mistake, raised before any work. A ``ValueError`` too."""


class Cancelled(NanoCaptionError):
    """Raised inside a caption when the caller's cancel check returned true."""

    def __init__(self, reason: str = "cancelled") -> None:
        super().__init__(reason)


class MetadataError(NanoCaptionError):
    """A photo's metadata could not be read or written. ``path`` names the file, ``reason`` says
    why; the original is untouched whenever this is raised during a write."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class EvaluationError(NanoCaptionError):
    """An evaluation cannot be scored: a references or predictions file is malformed, the two
    do not cover the same images, or the scoring library is missing. ``path`` names the file
    (or the command, for a missing library), ``reason`` says what is wrong."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class ProbeFailed(ModelError):
    """The throw-away process that checks an untrusted bundle before loading could not do its
    job (it could not start, failed to import, was killed from outside or stopped making
    progress). Says nothing about the model: never remembered, never reported as damage."""


class ClusterError(NanoCaptionError):
    """A batch on a cluster (``--ray``) could not start: the ``scale`` extra is not installed,
    the cluster cannot be reached, or the model cannot reach its workers. ``what`` names the
    address, path or package; ``reason`` says why."""

    def __init__(self, what: str, reason: str) -> None:
        super().__init__(f"{what}: {reason}")
        self.what = what
        self.reason = reason
