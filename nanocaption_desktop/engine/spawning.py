"""Spawned helper processes that never run the caller's ``__main__`` (issue 16).

``multiprocessing``'s spawn start method tells each child to import the parent's main module
first (by path for ``python script.py``, by name for ``python -m``), so that a target defined
there can be found. Our targets live in this package, so that import is never needed, and it
is harmful: a plain script without ``if __name__ == "__main__":`` that calls
``Captioner.load()`` runs again inside the child, which tries to start its own child while it
is still starting and dies with exit code 1. The probe then reported a sound model as damaged.

``spawn_context()`` returns the spawn context after wrapping
``multiprocessing.spawn.get_preparation_data`` once: for a process whose name starts with
``nanocaption-`` (and only those) the "import the main module" entries are left out, so the
child starts from a bare interpreter and imports only the target's module. Every other
process of the program (the caller's own ``multiprocessing`` use) is untouched. The wrapper is
keyed on the name the parent gives the process, so it is thread-safe and needs no lock.

``python -c``, Jupyter (a ``__main__`` without ``__file__``) and the frozen executable (which
re-runs itself with ``--multiprocessing-fork``, handled by ``freeze_support()`` in its entry
script) start children the same way; the package's own modules are found through
``sys.path``, which the child still receives.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.context
import multiprocessing.spawn
import threading
from collections.abc import Callable
from typing import Any

#: Every process this package spawns has a name with this prefix.
PREFIX = "nanocaption-"
_MAIN_KEYS = ("init_main_from_path", "init_main_from_name")
_LOCK = threading.Lock()


def _without_main(real: Callable[[str], dict[str, Any]]) -> Callable[[str], dict[str, Any]]:
    def get_preparation_data(name: str) -> dict[str, Any]:
        data = real(name)
        if str(name).startswith(PREFIX):
            for key in _MAIN_KEYS:
                data.pop(key, None)
        return data

    get_preparation_data.__wrapped__ = real  # type: ignore[attr-defined]
    get_preparation_data._nanocaption = True  # type: ignore[attr-defined]
    return get_preparation_data


def spawn_context() -> multiprocessing.context.SpawnContext:
    """The ``spawn`` context, with our processes kept from importing the caller's main module.
    Name every process started from it ``nanocaption-<what>``."""
    with _LOCK:
        current = multiprocessing.spawn.get_preparation_data
        if not getattr(current, "_nanocaption", False):
            multiprocessing.spawn.get_preparation_data = _without_main(current)  # type: ignore[assignment]
    return multiprocessing.get_context("spawn")
