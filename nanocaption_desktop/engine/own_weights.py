"""The step engine's weights (own_step.py, kernels/step.c; issue 18): the two files a checked
engine copy is (`engine.bin`, every array 64-byte aligned; `engine.json`, the model's sizes and
where each array is; derive/engine.py writes them with `write_engine`), read into memory of the
process's own on 2 MB pages (`EngineWeights`), and the C structures the engine reads them as.
"""

from __future__ import annotations

import ctypes
import json
import mmap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ModelError

BIN, INDEX = "engine.bin", "engine.json"
FILES = (BIN, INDEX)
FORMAT = 1
ALIGN = 64
HUGE = 2 << 20

PRODUCTS = ("qkv", "proj", "xq", "xproj", "fc", "fcproj")
NORMS = ("ln1", "lnx", "ln2")


class Prod(ctypes.Structure):
    _fields_ = [
        ("w", ctypes.c_void_p),
        ("colsum", ctypes.c_void_p),
        ("w_scale", ctypes.c_float),
        ("bias", ctypes.c_void_p),
        ("k", ctypes.c_int64),
        ("n", ctypes.c_int64),
    ]


class Norm(ctypes.Structure):
    _fields_ = [("g", ctypes.c_void_p), ("b", ctypes.c_void_p)]


class Layer(ctypes.Structure):
    _fields_ = [(name, Norm) for name in NORMS] + [(name, Prod) for name in PRODUCTS]


class Model(ctypes.Structure):
    _fields_ = [
        ("layers", ctypes.c_int64),
        ("heads", ctypes.c_int64),
        ("hd", ctypes.c_int64),
        ("d", ctypes.c_int64),
        ("ff", ctypes.c_int64),
        ("vocab", ctypes.c_int64),
        ("positions", ctypes.c_int64),
        ("eps", ctypes.c_float),
        ("scale", ctypes.c_float),
        ("wte", ctypes.c_void_p),
        ("wpe", ctypes.c_void_p),
        ("wte_scale", ctypes.c_float),
        ("wpe_scale", ctypes.c_float),
        ("wte_zero", ctypes.c_int32),
        ("wpe_zero", ctypes.c_int32),
        ("lnf", Norm),
        ("head", Prod),
        ("layer", ctypes.c_void_p),
    ]


def write_engine(folder: Path, facts: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> None:
    """Write `engine.bin` (each array 64-byte aligned, in order) and `engine.json` (`facts`
    and where each array is) into `folder` (a derive's temporary folder: the derive cache moves
    them into place durably, derive/cache.py)."""
    index: dict[str, Any] = {"format": FORMAT, **facts, "arrays": {}}
    offset = 0
    with open(folder / BIN, "wb") as f:
        for name, a in arrays.items():
            a = np.ascontiguousarray(a)
            pad = -offset % ALIGN
            f.write(b"\0" * pad)
            offset += pad
            index["arrays"][name] = {"offset": offset, "dtype": a.dtype.str, "shape": a.shape}
            f.write(a.tobytes())
            offset += a.nbytes
    (folder / INDEX).write_text(json.dumps(index, indent=1) + "\n", encoding="utf-8")


def _read_on_huge_pages(path: Path) -> tuple[mmap.mmap, int]:
    """The file's bytes in anonymous memory asked onto 2 MB pages, and where they start in it
    (a 2 MB boundary)."""
    size = path.stat().st_size
    memory = mmap.mmap(-1, size + HUGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    base = ctypes.addressof(ctypes.c_char.from_buffer(memory))
    start = -base % HUGE
    if hasattr(mmap, "MADV_HUGEPAGE"):
        try:
            memory.madvise(mmap.MADV_HUGEPAGE, start, size - size % mmap.PAGESIZE or size)
        except OSError:
            pass  # huge pages off: 4 KB pages, the same results
    view = memoryview(memory)[start : start + size]
    with open(path, "rb") as f:
        if f.readinto(view) != size:
            raise ModelError(str(path), "shorter than when it was written")
    view.release()
    return memory, start


class EngineWeights:
    """A checked engine copy's weights, in memory, and the model the engine reads them as."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        try:
            index = json.loads((folder / INDEX).read_text(encoding="utf-8"))
            if index.get("format") != FORMAT:
                raise ModelError(str(folder / INDEX), f"engine format {index.get('format')}")
            self.memory, start = _read_on_huge_pages(folder / BIN)
        except (OSError, ValueError) as e:
            raise ModelError(str(folder), f"engine weights cannot be read: {e}") from e
        self.index = index
        self._data = np.frombuffer(self.memory, dtype=np.uint8, offset=start)
        d = index["dims"]
        self.cross: list[tuple[str, str]] = [tuple(p) for p in index["cross"]]  # type: ignore[misc]
        self.layers = (Layer * d["layers"])()
        for i in range(d["layers"]):
            ly = self.layers[i]
            for name in NORMS:
                setattr(ly, name, self._norm(f"h{i}.{name}"))
            for name in PRODUCTS:
                setattr(ly, name, self._prod(f"h{i}.{name}"))
        emb = index["embeddings"]
        self.model = Model(
            d["layers"],
            d["heads"],
            d["head_dim"],
            d["hidden"],
            d["inner"],
            d["vocab"],
            d["positions"],
            index["epsilon"],
            index["scale"],
            self._address("wte"),
            self._address("wpe"),
            emb["wte"]["scale"],
            emb["wpe"]["scale"],
            emb["wte"]["zero"],
            emb["wpe"]["zero"],
            self._norm("lnf"),
            self._prod("head"),
            ctypes.cast(self.layers, ctypes.c_void_p),
        )

    def array(self, name: str) -> np.ndarray:
        spec = self.index["arrays"][name]
        dtype = np.dtype(spec["dtype"])
        count = int(np.prod(spec["shape"], dtype=np.int64))
        a = self._data[spec["offset"] : spec["offset"] + count * dtype.itemsize]
        return a.view(dtype).reshape(spec["shape"])

    def _address(self, name: str) -> int:
        return int(self.array(name).ctypes.data)

    def _norm(self, name: str) -> Norm:
        return Norm(self._address(name + ".g"), self._address(name + ".b"))

    def _prod(self, name: str) -> Prod:
        facts = self.index["products"][name]
        bias = self._address(name + ".bias") if name + ".bias" in self.index["arrays"] else None
        return Prod(
            self._address(name + ".w"),
            self._address(name + ".colsum"),
            facts["w_scale"],
            bias,
            facts["k"],
            facts["n"],
        )

    @property
    def vocab(self) -> int:
        return int(self.model.vocab)
