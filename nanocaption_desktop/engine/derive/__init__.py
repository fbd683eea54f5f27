"""The derive wing: the offline ONNX graph toolchain that makes a bundle's derived copies.

A "derived copy" of a stock graph is made once, checked bit for bit against the stock graph,
and cached beside the bundle (in `optimized/<stem>/`, the on-disk name) with a manifest, each
graph's weights in `<graph>.data` beside it (memory-mapped by onnxruntime: external.save_graph):
  - a decoder's is its "cross graph", run once per image (the cross-attention keys and values
    of the image), and its "step graph", run once per token, which takes the cross graph's
    outputs as inputs, with its shape arithmetic folded into constants;
  - an encoder's is the encoder with its patch projection as an integer matrix product.

Modules: cache.py (where copies live, when they are derived again, copies shipped alone),
manifest.py, copycheck.py (SHA-256 of a copy's files before use), recipes.py and checks.py (how
each copy is made and checked), and the `onnx`-using rewrites: cross_graph.py, fold.py with
dims.py, known.py and infer.py (per-op handlers: site.py, infer_values.py, infer_shapes.py),
flatten.py, patch_embed.py, over graph.py's shared helpers.
The app outside the wing uses only this module's names; importing it needs no `onnx`.
"""

from .cache import (
    DerivedDecoder,
    DerivedRows,
    derive_pending,
    derived_copy,
    derived_decoder,
    derived_encoder,
    derived_engine,
    derived_files,
    derived_own,
    derived_rows,
    mark_shipped_alone,
    stock_graphs_asked,
)
from .manifest import MANIFEST, sha256
from .verify import verify_copies

__all__ = [
    "MANIFEST",
    "DerivedDecoder",
    "DerivedRows",
    "derive_pending",
    "derived_copy",
    "derived_decoder",
    "derived_encoder",
    "derived_engine",
    "derived_files",
    "derived_own",
    "derived_rows",
    "mark_shipped_alone",
    "sha256",
    "stock_graphs_asked",
    "verify_copies",
]
