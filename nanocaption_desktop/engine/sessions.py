"""The one place that builds an onnxruntime InferenceSession, and runs it."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import onnxruntime as ort

from ..ground.privacy import telemetry_wanted
from .errors import ModelError
from .memory import return_large_blocks

log = logging.getLogger(__name__)

if not telemetry_wanted():  # onnxruntime loaded before this package (a caller's import): at
    ort.disable_telemetry_events()  # least no events are queued (ground/privacy.py)


def physical_cores() -> int:
    """Physical cores available to this process (hyper-threads share one core's units)."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:
        return max(1, (os.cpu_count() or 2) // 2)
    cores = set()
    for cpu in cpus:
        base = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            pkg = (base / "physical_package_id").read_text().strip()
            core = (base / "core_id").read_text().strip()
        except OSError:
            return len(cpus)
        cores.add((pkg, core))
    return max(1, len(cores))


def threads_for_lanes(lanes: int = 2) -> int:
    """Session threads that leave room for `lanes` images at once (pipeline.caption_stream).

    Per-token decoding is bound by memory bandwidth, so a second thread barely speeds up one
    image (6.8 -> 6.2 ms per token on the full INT8 model, 2 cores), while two images on one
    thread each caption about 1.5x as many images per second as one image on two threads.
    """
    return max(1, physical_cores() // max(1, lanes))


def make_session(
    path: str | Path,
    *,
    threads: int | None = None,
    spinning: bool = False,
    optimized_model_path: str | Path | None = None,
    prepack: bool = True,
    disabled_optimizers: tuple[str, ...] = (),
    profile: str | Path | None = None,
    arena: bool = True,
    custom_ops: str | Path | None = None,
) -> ort.InferenceSession:
    """A CPU session with explicit options.

    `spinning`: let idle intra-op threads spin between the nodes of a run (they stop when the
    run returns). On for the per-token decoder loop (measured faster); off for graphs that run
    once per image (the encoder), where spinning only burns CPU that the next session needs.
    `prepack`: let kernels keep re-laid-out copies of the weights. On everywhere now: for the
    step graph it is what makes the per-token loop fast (16 tokens: 82 ms with it, 140
    without); for the encoder (full INT8 model, onnxruntime 1.32) 67.4 -> 61.9 ms on 2 threads
    (57.9 with spinning), 119 -> 114 on one, for 10-15 MB more peak RSS with one image (409 ->
    419-425) and none more in folder mode (no arena). Earlier onnxruntime versions, with the
    arena, measured 55-70 MB more, and the encoder ran without.
    `profile`: write onnxruntime's per-node profile (JSON) to a file starting with this prefix
    (tests/benchmarks/profile_ops.py reads it).
    `arena`: onnxruntime's CPU memory arena, which keeps the most a run ever needed for good.
    Off for the folder's encoder: its blocks then come from malloc, told to give large ones
    back (once per process, engine/memory.py); 2 lanes x 4 rows peak 75-95 MB lower (with the
    cross graph's off too), same outputs. On for the rows graph (one group of 8 rows: 16 steps
    733 -> 663 ms, peak 552-563 -> 568 MB) and for the folder's cross graph (8 images: 25.4 ->
    21.2 ms an image, peak +3 MB).
    `custom_ops`: an onnxruntime custom-op library to register (the own kernel's, for the own
    graph: engine/kernels/, derive/own.py).
    (RSS figures above: graphs with their weights inline. Since the derived graphs keep them in
    data files (derive/external.py), one image peaks at 357 MB and groups of 8 at 548 MB.)
    """
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads or physical_cores()
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    opts.enable_cpu_mem_arena = arena
    if not arena:  # its blocks come from malloc then: have it give the large ones back
        return_large_blocks()
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    if spinning:
        # spin between the nodes of a run, not after it: threads left spinning once a step
        # returns took the cores from the next image's encoder (full INT8 model, 2 cores:
        # one caption 180 -> 156-161 ms, median of 15)
        opts.add_session_config_entry("session.force_spinning_stop", "1")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    if not prepack:
        opts.add_session_config_entry("session.disable_prepacking", "1")
    if profile is not None:
        opts.enable_profiling = True
        opts.profile_file_prefix = str(profile)
    if custom_ops is not None:  # the own kernel's library (engine/kernels/)
        opts.register_custom_ops_library(str(custom_ops))
    if optimized_model_path is not None:
        opts.optimized_model_filepath = str(optimized_model_path)
    path = Path(path)
    if not path.is_file():
        raise ModelError(str(path), "missing file")
    try:
        return ort.InferenceSession(
            str(path),
            sess_options=opts,
            providers=["CPUExecutionProvider"],
            disabled_optimizers=list(disabled_optimizers) or None,
        )
    except Exception as e:  # onnxruntime raises its own exception types for broken models
        raise ModelError(str(path), f"cannot load the model: {_short(e)}") from e


def run(
    session: ort.InferenceSession,
    outputs: Sequence[str] | None,
    feeds: Mapping[str, Any],
    name: str = "",
) -> list[Any]:
    """`session.run` with runtime failures turned into `ModelError`."""
    try:
        return session.run(outputs, dict(feeds))
    except Exception as e:
        raise ModelError(name or "model", f"inference failed: {_short(e)}") from e


def _short(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:300] if text else type(e).__name__
