"""The desktop window (PySide6). ``run(argv)`` opens it; nothing here is imported by the engine."""

from __future__ import annotations

__all__ = ["run"]


def run(argv: list[str] | None = None, *, model_dir: str | None = None) -> int:
    from .app import run as _run

    return _run(argv, model_dir=model_dir)
