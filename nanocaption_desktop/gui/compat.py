"""Work around a reference-count bug of PySide6 6.12 on Python < 3.12.

On CPython 3.11 with PySide6/shiboken6 6.12.0, every call of a Qt method that returns ``void``
(``QLabel.setText``, ``QSettings.setValue``, ``QStyle.unpolish`` …) drops one reference to
``None`` that it never took (and some calls do the same to ``True``/``False``). Python 3.12 made
these singletons immortal (PEP 683), so the bug is invisible there; on 3.11 ``None`` starts with
a few thousand references and the app dies with "Fatal Python error: none_dealloc: deallocating
None" after a few thousand GUI calls. ``tests/gui/test_compat.py`` measures it.

The workaround gives the singletons the same treatment 3.12 gives them: a reference count so
large that no number of stray decrements can bring it to zero. It changes nothing else.
"""

from __future__ import annotations

import ctypes
import logging
import sys

log = logging.getLogger(__name__)

_HEADROOM = 1 << 40  # more decrements than any session can make
_done = False


def protect_singletons() -> bool:
    """Make ``None``, ``True``, ``False`` effectively immortal on CPython < 3.12. Idempotent."""
    global _done
    if _done or sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return False
    for obj in (None, True, False, Ellipsis, NotImplemented):
        ctypes.c_ssize_t.from_address(id(obj)).value += _HEADROOM
    _done = True
    log.debug("None/True/False protected against stray decrements (PySide6 on Python 3.11)")
    return True
