"""NanoCaption's own integer weight products: an onnxruntime custom-op library (issue 18).

`products.c`, compiled at install (setup.py; optional: no compiler, no library) into
`_products.*.so` beside this file, registers `OwnMatMulInteger` and `OwnMatMulIntegerToFloat`
(domain `ai.nanocaption`): ONNX `MatMulInteger` with the activations' zero point over an INT8
weight the derive packed (`pack`), read once front to back with AVX512-VNNI, and the same
followed by the float steps a quantized product takes (Cast, Mul by the scale, Add of the bias),
rounded as onnxruntime rounds them. The own graph that uses them (derive/own.py: a folder's
rows graph) is checked bit for bit against the step graph on this machine before it is used.

`library()` is the library's path when it can be used here: built, loadable, onnxruntime 1.17
or later, a CPU with AVX512-VNNI, and not turned off with `NANOCAPTION_OWN_KERNEL=0`. Otherwise
None, and the app runs onnxruntime's own products (the rows graph), every caption the same.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

DOMAIN = "ai.nanocaption"
OP = "OwnMatMulInteger"
FLOAT_OP = "OwnMatMulIntegerToFloat"
QUANTIZE_OP = "OwnDynamicQuantizeMatMul"
#: the environment switch: "0" turns the own products off (onnxruntime's are used)
SWITCH = "NANOCAPTION_OWN_KERNEL"
HERE = Path(__file__).resolve().parent


def built() -> Path | None:
    """The compiled library beside this file, if the install built it."""
    found = sorted(p for p in HERE.glob("_products*") if p.suffix in (".so", ".pyd", ".dylib"))
    return found[0] if found else None


def library() -> Path | None:
    """The library's path when its op can run here (see the module's doc), else None."""
    if os.environ.get(SWITCH) == "0":
        return None
    return _usable()


@functools.cache
def _usable() -> Path | None:
    path = built()
    if path is None:
        log.debug("own products: not built (no C compiler at install)")
        return None
    if not _ort_recent():
        log.debug("own products: onnxruntime older than 1.17")
        return None
    try:
        lib = ctypes.CDLL(str(path))
        supported = bool(lib.nc_supported())
    except (OSError, AttributeError) as e:
        log.debug("own products: %s cannot be loaded: %s", path, e)
        return None
    if not supported:
        log.debug("own products: this CPU has no AVX512-VNNI")
        return None
    return path


def pack(w: np.ndarray) -> np.ndarray:
    """The int8 weight `w` [k, n] (k a multiple of 4) as the op reads it: panels of 32 columns
    (zero columns pad the last), each [k/4][32][4], one after the other (products.c)."""
    k, n = w.shape
    panels = -(-n // 32)
    padded = np.zeros((k, panels * 32), dtype=np.int8)
    padded[:, :n] = w
    # [k/4, 4, panels, 32] -> [panels, k/4, 32, 4]
    return np.ascontiguousarray(padded.reshape(k // 4, 4, panels, 32).transpose(2, 0, 3, 1))


def _ort_recent() -> bool:
    import onnxruntime as ort

    try:
        major, minor = (int(x) for x in ort.__version__.split(".")[:2])
    except ValueError:
        return False
    return (major, minor) >= (1, 17)
