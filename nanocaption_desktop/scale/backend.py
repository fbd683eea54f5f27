"""The captioning backend that sends a batch's images to a pool of ``CaptionActor``s through
Ray Data, for ``jobs.batch.BatchRun`` (which keeps the journal, the outputs and the sidecars).

Order: results come back in the scan's order (Ray Data's ``preserve_order``), so the outputs
are byte for byte those of a local batch. Exactly once: each image to do is sent with its
index; a result whose index was already handed back in this run (a task Ray ran again after a
worker died) is dropped, and the journal's keys make a later run skip what was recorded. Ray
retries an actor's task when its process dies (Ray Data's actor pool: ``max_restarts`` and
``max_task_retries`` -1), so a worker or node lost mid-run costs time, not images."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..ground.errors import ClusterError
from ..jobs.runner import CancelFlag
from ..jobs.settings import Work
from ..jobs.spec import BatchSpec
from .actor import CaptionActor
from .cluster import cluster_cpus
from .inputs import Inputs
from .options import RayOptions
from .shipping import ModelPlan

log = logging.getLogger(__name__)

#: Most images per Ray Data block: a retried task redoes at most this many, and results reach
#: the driver (journal, progress) at least this often per actor.
MAX_ROWS_PER_BLOCK = 16


@dataclass(frozen=True)
class RemoteCaption:
    """A caption as ``BatchRun`` reads it (``text``, ``score``, ``seconds`` or ``error``)."""

    text: str
    score: float | None
    seconds: float
    error: str | None
    pid: int
    model_from: str


class RayBackend:
    """``captions(works, spec, cancel)``: see ``jobs.batch.CaptionBackend``."""

    def __init__(
        self, ray: Any, model: ModelPlan, options: RayOptions, inputs: Inputs | None = None
    ) -> None:
        self.ray = ray
        self.inputs = inputs or Inputs()  # URI inputs: which filesystem a worker reads with
        self.model = model
        self.options = options
        self.pids: set[int] = set()  # worker processes that returned results (tests, logs)
        self.model_from: set[str] = set()
        self.dropped = 0  # duplicate results dropped
        self.pid_of: dict[str, int] = {}  # relpath -> the worker process that captioned it

    def captions(
        self, works: Iterator[Work], spec: BatchSpec, cancel: CancelFlag | None
    ) -> Iterator[tuple[Work, Any]]:
        todo: list[Work] = []
        for work in works:  # the scan, the journal's skips and the stat failures, in order
            if work.done is not None:
                yield work, None
            else:
                todo.append(work)
        if not todo or (cancel is not None and cancel.is_set()):
            return
        pending: dict[int, Work | None] = dict(enumerate(todo))
        rows = iter(self._dataset(todo, spec).iter_rows())
        try:
            yield from self._stream(rows, pending, cancel)
        finally:
            close = getattr(rows, "close", None)
            if close is not None:
                close()  # stops the dataset's execution when the run ends early

    def _stream(
        self, rows: Iterator[Any], pending: dict[int, Work | None], cancel: CancelFlag | None
    ) -> Iterator[tuple[Work, Any]]:
        while True:
            try:
                row = next(rows, None)
            except self.ray.exceptions.RayError as e:  # an actor that cannot start, ...
                raise ClusterError("ray", _first_line(e)) from e
            if row is None:
                return
            found = pending.pop(int(row["i"]), None)
            if found is None:
                self.dropped += 1
                log.info("dropped a repeated result (a retried task)")
                continue
            work, cap = found, _caption(row)
            self.pids.add(cap.pid)
            self.pid_of[work.entry.relpath] = cap.pid
            self.model_from.add(cap.model_from)
            yield work, cap
            if cancel is not None and cancel.is_set():
                return  # leaving iter_rows stops the dataset; what is done is recorded

    def _dataset(self, todo: list[Work], spec: BatchSpec) -> Any:
        ray = self.ray
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False  # progress and ETA come from the driver, as locally
        # results in the scan's order, so the journal and the CSV/JSONL rows are in the order of
        # a local batch; a later block that is done waits (in the object store) for the earlier
        ctx.execution_options.preserve_order = True
        actors = min(self.options.actors or cluster_cpus(ray), len(todo))
        rows = self.options.rows_per_block or max(
            1, min(MAX_ROWS_PER_BLOCK, len(todo) // (4 * actors))
        )
        items = []
        for i, w in enumerate(todo):
            fs, path = self.inputs.where(w.entry.path)
            items.append({"i": i, "path": os.fsencode(path), "fs": fs, "name": w.display})
        ds = ray.data.from_items(items, override_num_blocks=math.ceil(len(items) / rows))
        return ds.map_batches(
            CaptionActor,
            fn_constructor_kwargs={
                "model": self.model,
                "beams": spec.beams,
                "max_new_tokens": spec.max_new_tokens,
                "isolate": spec.isolate,
                "faults": self.options.faults,
                "filesystems": self.inputs.filesystems,
            },
            batch_size=rows,
            batch_format="numpy",
            # Ray Data starts its pool's actors with max_restarts=-1 and max_task_retries=-1:
            # a dead actor process is started again and its task run again (results
            # deduplicated above); tests/scale/test_faults.py kills one mid-task
            compute=ray.data.ActorPoolStrategy(size=actors),
            num_cpus=1,
        )


def _first_line(e: BaseException) -> str:
    """The last non-empty line of a Ray error (the original error's message)."""
    lines = [x.strip() for x in str(e).splitlines() if x.strip()]
    return lines[-1] if lines else type(e).__name__


def _caption(row: dict[str, Any]) -> RemoteCaption:
    score = row["score"]
    score = None if score is None or math.isnan(score) else float(score)
    return RemoteCaption(
        str(row["text"]),
        score,
        float(row["seconds"]),
        str(row["error"]) or None,
        int(row["pid"]),
        str(row["model_from"]),
    )
