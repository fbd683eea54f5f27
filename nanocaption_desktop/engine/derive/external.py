"""Where a derived graph keeps its weights: in one external data file beside it.

`save_graph` writes a graph with its tensors of `EXTERNAL_THRESHOLD` bytes or more in
`<graph file>.data` (`data_file`), named by its bare file name: onnxruntime memory-maps that
file instead of holding a second copy of the weights (issue 18, docs/performance.md: one
session of the full-size step graph grows the process by 147 MB, not 222). The data file is
one of the copy's files (`with_data`): in its manifest, hashed and moved into place like the
graph. Importing this module needs no `onnx`.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import onnx

#: a derived graph keeps its tensors of this many bytes or more in its data file
EXTERNAL_THRESHOLD = 1024


def data_file(graph: str) -> str:
    """The name of the external data file of the derived graph file `graph` (beside it)."""
    return graph + ".data"


def with_data(*graphs: str) -> tuple[str, ...]:
    """The files of a derived copy made of `graphs`: each graph file, then its data file."""
    return tuple(name for g in graphs for name in (g, data_file(g)))


def save_graph(model: onnx.ModelProto, path: Path, threshold: int = EXTERNAL_THRESHOLD) -> None:
    """Write `model` to `path`, its tensors of `threshold` bytes or more in one data file beside
    it (`data_file`, named by its bare file name: the copy's folder can move). The data file is
    always written (empty when no tensor is that large), so that a copy's files are always the
    same. onnx moves the weights out of `model` into the file: use it no more afterwards."""
    import onnx

    data = path.with_name(data_file(path.name))
    data.unlink(missing_ok=True)  # onnx appends to a data file that exists
    onnx.save(
        model,
        str(path),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=data.name,
        size_threshold=threshold,
    )
    if not data.exists():
        data.write_bytes(b"")  # in the recipe's temp folder: moved into place, fsync'd, by cache
    shutil.copymode(path, data)  # readable as the graph is (onnx makes it owner-only)
