"""How each kind of derived copy is made and checked (needs the `onnx` package to make one).

A decoder's derived copy is its cross graph and step graph (cross_graph.py), its shape
arithmetic folded first (fold.py, flatten.py; a plain separation if the folded graphs ever fail
their check); an encoder's is the encoder with its patch projection as a matrix product
(patch_embed.py). Each recipe writes its files into a folder, checks them bit for bit against
the stock graph on random input (checks.py), and returns what the manifest records.
The `onnx`-using modules are imported when a copy is made, never when one is only used.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import onnx

    from .cross_graph import DecoderGraphs

from .external import save_graph, with_data

log = logging.getLogger(__name__)

CROSS, STEP = "cross.onnx", "step.onnx"
ENCODER = "encoder.onnx"
DECODER_FORMAT = 6  # 2: shape arithmetic folded; 3: flatten pairs dropped; 4: casts to bool;
# 5: repeated computations merged (dedupe.py); 6: weights in external data files (save_graph)
ENCODER_FORMAT = 2  # 2: weights in an external data file (save_graph)
ROWS, ROWS_FORMAT = "rows.onnx", 4  # 3: blocked QuantizeLinear (11 nodes, not 13); 1..8 rows;
# 4: weights in an external data file (save_graph)
OWN, OWN_FORMAT = "own.onnx", 1
ENGINE_FORMAT = 1  # the step engine's files (own_step.py), derived from a step graph


class FoldError(Exception):
    """Folding the shape arithmetic failed (an analysis bug): separate the graphs without it."""


@dataclass(frozen=True)
class Recipe:
    """What one kind of derived copy is: its files, its format, and how it is made (`make`
    writes the files into a folder, checks them against the source, and returns what the
    manifest records about them; it raises when no copy can be derived from the source)."""

    what: str  # for messages: "decoder", "encoder"
    files: tuple[str, ...]  # each graph file, then its external data file (`with_data`)
    format: int
    make: Callable[[Path, Path], dict[str, Any]]
    #: what else a copy depends on, recorded in its manifest; a copy stamped otherwise is
    #: derived again (the own graph: the kernel library it was checked with)
    stamp: Callable[[], dict[str, Any]] | None = None
    #: the copy's folder name under the source's `optimized/` (default: the source's stem);
    #: two recipes of one source need two folders
    folder: str | None = None

    @property
    def graphs(self) -> tuple[str, ...]:
        """The graph files among `files` (those onnxruntime opens; not their data files)."""
        return tuple(f for f in self.files if f.endswith(".onnx"))


def make_decoder_copy(source: Path, tmp: Path) -> dict[str, Any]:
    """The decoder's cross graph and step graph, shapes folded; if that ever fails its check,
    without folding."""
    from .checks import DeriveCheckFailed

    try:
        return _make_decoder_copy(source, tmp, fold=True)
    except (DeriveCheckFailed, FoldError) as e:
        log.warning("%s: folding shapes failed (%s); separating the graphs without it", source, e)
    # outside the handler, so that the failed attempt's graphs are freed first; loaded again,
    # since the fold changed the first copy in place
    return _make_decoder_copy(source, tmp, fold=False)


def _make_decoder_copy(source: Path, tmp: Path, fold: bool) -> dict[str, Any]:
    import onnx

    from .checks import check_decoder_copy
    from .cross_graph import describe, lift_cache_branch

    model = onnx.load(str(source))
    if any(n.op_type == "If" for n in model.graph.node):
        model = lift_cache_branch(model)
    graphs, folded = _separate(model, fold)
    del model
    sizes = describe(graphs)  # before saving: save_graph moves the weights out
    for name, m in ((CROSS, graphs.cross), (STEP, graphs.step)):
        onnx.checker.check_model(m)
        save_graph(m, tmp / name)
    del graphs, m  # the graphs are on disk: their weights need not stay in memory
    broadcast = check_decoder_copy(source, tmp / CROSS, tmp / STEP)
    return {"broadcast": broadcast, "split": sizes, "folded": folded}


def make_encoder_copy(source: Path, tmp: Path) -> dict[str, Any]:
    import onnx

    from .checks import check_encoder_copy
    from .patch_embed import patch_projection_as_matmul

    model = onnx.load(str(source))
    nodes = len(model.graph.node)
    patch_projection_as_matmul(model)
    onnx.checker.check_model(model)
    save_graph(model, tmp / ENCODER)
    report = {
        "encoder": {"patch_projection": "MatMulInteger", "nodes": [nodes, len(model.graph.node)]}
    }
    del model
    check_encoder_copy(source, tmp / ENCODER)
    return report


def _separate(model: onnx.ModelProto, fold: bool) -> tuple[DecoderGraphs, dict[str, Any] | None]:
    """The cross graph and step graph of `model`, its shape arithmetic folded first, in place,
    when `fold` (the image tensors' batch dim may be 1 next to several rows). Folding in place
    rather than on a copy keeps one copy of the weights fewer in memory while a model installs."""
    from . import cross_graph

    if not fold:
        return cross_graph.separate_cross_graph(model), None
    from . import dedupe, flatten
    from . import fold as folding

    try:
        one_or = {
            i.name: [0]
            for i in model.graph.input
            if i.name.startswith(cross_graph.CROSS_INPUT_PREFIX)
        }
        report = dataclasses.asdict(folding.fold_shapes(model, one_or))
        report["flatten_pairs"] = flatten.drop_flatten_pairs(model, one_or)
        report["dedupe"] = dedupe.merge_duplicates(model, one_or)
    except Exception as e:  # noqa: BLE001 - an analysis bug must not cost the cross graph itself
        raise FoldError(f"{type(e).__name__}: {e}") from e
    return cross_graph.separate_cross_graph(model), report


def make_rows_copy(source: Path, tmp: Path) -> dict[str, Any]:
    from .rows_copy import make_rows_copy as make

    return make(source, tmp)


def make_own_copy(source: Path, tmp: Path) -> dict[str, Any]:
    from .own import make_own_copy as make

    return make(source, tmp)


def make_engine_copy(source: Path, tmp: Path) -> dict[str, Any]:
    from .engine import make_engine_copy as make

    return make(source, tmp)


def own_stamp() -> dict[str, Any]:
    """The own graph's stamp: the SHA-256 of the kernel library it is checked with (None when
    none can run here)."""
    from .. import kernels
    from .manifest import sha256

    library = kernels.library()
    return {"kernel_sha256": None if library is None else sha256(library)}


DECODER_RECIPE = Recipe("decoder", with_data(CROSS, STEP), DECODER_FORMAT, make_decoder_copy)
ENCODER_RECIPE = Recipe("encoder", with_data(ENCODER), ENCODER_FORMAT, make_encoder_copy)
#: the rows graph, derived from a decoder's derived step graph (rows_copy.py): several images'
#: rows per step, each exactly as alone
ROWS_RECIPE = Recipe("rows decoder", with_data(ROWS), ROWS_FORMAT, make_rows_copy)
#: the own graph, derived from a rows graph (own.py): its weight products on the own kernel
#: (engine/kernels/), made only where the kernel can run, stamped with the library's SHA-256
OWN_RECIPE = Recipe("own-kernel rows decoder", with_data(OWN), OWN_FORMAT, make_own_copy, own_stamp)
#: the step engine's weights, derived from a decoder's derived step graph (engine.py): one
#: caption's tokens in the own library, made only where it can run, stamped like the own graph
ENGINE_RECIPE = Recipe(
    "step engine",
    ("engine.bin", "engine.json"),
    ENGINE_FORMAT,
    make_engine_copy,
    own_stamp,
    folder="step-engine",
)


def recipe_for(source: Path) -> Recipe:
    """The recipe for the graph `source` (an encoder or a decoder, by its file name; a derived
    step graph's is the rows graph, a rows graph's the own graph)."""
    if source.name == STEP:
        return ROWS_RECIPE
    if source.name == ROWS:
        return OWN_RECIPE
    return ENCODER_RECIPE if source.stem.startswith("encoder") else DECODER_RECIPE
