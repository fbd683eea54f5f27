"""The captioner that runs in each actor of the Ray Data pool: the model loaded once per actor
(single-thread sessions: one actor per CPU), images decoded as a local batch decodes them
(``--isolate``: in a ``DecodePool`` worker process, so a decoder crash or hang costs one file)
one image ahead of the model, each image's failure that image's result."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..engine.errors import Cancelled, ModelError
from ..ground.durable import write_atomically
from ..jobs.runner import prefetch
from .shipping import ModelPlan, model_dir

log = logging.getLogger(__name__)


class CaptionActor:
    """``map_batches`` callable class: a batch of ``{i, path, fs, name}`` rows (``fs``: the
    index of the filesystem a URI input is read with, -1 for a local path) in, one row out per
    image: ``i``, ``text``, ``score``, ``seconds``, ``error`` ("" when none), ``pid`` and
    ``model_from`` (``path``/``shipped``)."""

    def __init__(
        self,
        model: ModelPlan,
        beams: int | None,
        max_new_tokens: int | None,
        isolate: bool,
        faults: Mapping[str, str],
        filesystems: Sequence[Any] = (),
    ) -> None:
        import ray

        from ..engine.captioner import Captioner

        folder, self.model_from = model_dir(ray, model)
        self.captioner = Captioner.load(folder, threads=1)
        self.captioner.settings.override(beams=beams, max_new_tokens=max_new_tokens)
        self.beams, self.max_new_tokens = beams, max_new_tokens
        self.pool: Any = None
        if isolate:
            from ..engine.isolation import DecodePool

            self.pool = DecodePool(self.captioner.preprocess_config, workers=1)
        self.faults = dict(faults)
        self.filesystems = list(filesystems)  # pyarrow filesystems of URI inputs (inputs.py)
        self.pid = os.getpid()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        cols = [batch[k].tolist() for k in ("i", "path", "fs", "name")]
        rows = list(zip(*cols, strict=True))
        out: dict[str, list[Any]] = {k: [] for k in ("i", "text", "score", "seconds", "error")}
        for (i, name), (pixels, error) in zip(
            ((r[0], r[3]) for r in rows), prefetch(rows, self._decode, depth=2), strict=True
        ):
            self._fault(name)
            text, score, seconds = "", float("nan"), 0.0
            if error is None:
                text, score, seconds, error = self._caption(pixels, name)
            for key, value in zip(out, (i, text, score, seconds, error or ""), strict=True):
                out[key].append(value)
        n = len(out["i"])
        result = {k: np.asarray(v) for k, v in out.items()}
        result["pid"] = np.full(n, self.pid)
        result["model_from"] = np.asarray([self.model_from] * n)
        return result

    def _decode(self, row: tuple[int, Any, int, str]) -> tuple[Any, str | None]:
        _, path, fs, name = row
        path = os.fsdecode(path)
        try:
            prepare = self.pool.prepare if self.pool is not None else self.captioner.prepare
            if fs < 0:
                return prepare(path, name=name), None
            with self.filesystems[fs].open_input_stream(path) as f:  # an object store's file
                data = f.readall()
            return prepare(data, name=name), None
        except Exception as e:  # ImageError from the engine or the decode pool, anything else
            return None, getattr(e, "reason", None) or str(e) or type(e).__name__

    def _caption(self, pixels: Any, name: str) -> tuple[str, float, float, str | None]:
        try:
            cap = self.captioner.caption_pixels(
                pixels, source=name, beams=self.beams, max_new_tokens=self.max_new_tokens
            )
        except (Cancelled, ModelError):
            raise
        except Exception as e:  # that image's failure, as in a local batch (jobs/batch.py)
            log.exception("captioning %s failed", name)
            return "", float("nan"), 0.0, f"captioning failed: {e}"
        score = float("nan") if cap.score is None else float(cap.score)
        return cap.text, score, cap.seconds, None

    def _fault(self, name: str) -> None:
        """Tests only: ``{name: "hold:DIR"}`` makes the first actor to reach ``name`` write its
        pid to ``DIR/pid`` and wait for good (a test kills it); a retry finds ``DIR/held``."""
        fault = self.faults.get(name, "")
        if not fault.startswith("hold:"):
            return
        folder = Path(fault[5:])
        try:
            with open(folder / "held", "x"):
                pass
        except FileExistsError:
            return
        write_atomically(folder / "pid", str(self.pid).encode())
        threading.Event().wait()
