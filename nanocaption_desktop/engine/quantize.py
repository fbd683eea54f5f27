"""fp32 graphs to INT8 the way the published INT8 files were made (``models import``).

The public INT8 export of vit-gpt2 (``Xenova/vit-gpt2-image-captioning``) was made by
transformers.js's conversion script: onnxruntime's ``quantize_dynamic`` with every op type it
knows (MatMul, Gather, Conv, ...), ``per_channel=False``, ``reduce_range=False``,
``EnableSubgraph`` (so a merged decoder's branches are quantized too) and the weight type
QUInt8 for a graph that contains a ``Conv`` (the ViT patch embedding; onnxruntime-web has no
signed ConvInteger) and QInt8 otherwise (the decoder). Matching that file's nodes: the
decoder's MatMulInteger weights are int8 and its embedding Gathers uint8 (docs/performance.md:
"uint8 against int8"). Needs ``onnx`` (a dependency) for onnxruntime.quantization.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from .errors import ModelError

__all__ = ["quantize_graph", "quantize_settings"]


def _op_types(graph: Any) -> set[str]:
    import onnx

    found: set[str] = set()
    for node in graph.node:
        found.add(node.op_type)
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                found |= _op_types(attr.g)
    return found


def quantize_settings(source: Path) -> dict[str, Any]:
    """The keyword arguments of ``quantize_dynamic`` for ``source`` (see the module's text)."""
    import onnx
    from onnxruntime.quantization import QuantType

    model = onnx.load(str(source), load_external_data=False)
    conv = "Conv" in _op_types(model.graph)
    return {
        "weight_type": QuantType.QUInt8 if conv else QuantType.QInt8,
        "per_channel": False,
        "reduce_range": False,
        "extra_options": {"EnableSubgraph": True},
    }


class _NoPreprocessAdvice(logging.Filter):
    """onnxruntime.quantization logs advice to pre-process (on the root logger) every call."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing before quantization" not in record.getMessage()


def quantize_graph(source: Path, target: Path) -> dict[str, Any]:
    """Write the INT8 copy of ``source`` to ``target``; returns the settings used. A graph that
    cannot be quantized is a ModelError naming it."""
    try:
        from onnxruntime.quantization import quantize_dynamic
    except ImportError as e:  # onnx missing: the `optimize` extra
        raise ModelError(
            str(source), f"cannot quantize without the onnx package ({e}); pip install onnx"
        ) from None
    try:
        settings = quantize_settings(source)
        quiet = _NoPreprocessAdvice()
        logging.getLogger().addFilter(quiet)
        try:
            quantize_dynamic(source, target, **settings)
        finally:
            logging.getLogger().removeFilter(quiet)
    except ModelError:
        raise
    except Exception as e:  # noqa: BLE001 - onnx/onnxruntime raise many types on a bad graph
        raise ModelError(str(source), f"cannot be quantized: {str(e).splitlines()[0]}") from None
    return settings
