"""``caption_folder``: scan a folder, caption every image, write the outputs, resume, cancel."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from ..engine.errors import Cancelled, ModelError
from .filecheck import is_regular_file
from .journal import Journal
from .lock import JournalLock
from .outputs import output_keys, prepare_outputs
from .photo_writes import (
    remove_photo_temp,
    signature,
    skip_without_caption,
    write_photo,
    wrote_file,
)
from .results import BatchProgress, BatchResult, ProgressTracker, ResultStatus
from .runner import CancelFlag, count_in_background, prefetch
from .scan import ScanEntry, display_path, scan_images
from .settings import Work
from .sidecars import recorded_sidecar, write_sidecar
from .spec import BatchSpec
from .writers import (
    OutputError,
    SidecarOutcome,
    SidecarPolicy,
    remove_stale_temps,
    remove_temp_file,
    render_csv,
    render_jsonl,
)

log = logging.getLogger(__name__)

#: Outputs are re-rendered from the journal at most this often (and at the end) ...
CHECKPOINT_SECONDS = 2.0
#: ... and never more often than this many times the last render took (big batches).
CHECKPOINT_COST_FACTOR = 20.0


class BatchRun:
    """One run of a batch; ``results()`` is the generator ``caption_folder`` returns."""

    def __init__(
        self,
        settings: BatchSpec,
        captioner: Any,
        preparer: Callable[..., Any],
        cancel: CancelFlag | None,
        progress: Callable[[BatchProgress], None] | None,
    ) -> None:
        self.s = settings
        self.captioner = captioner
        self.preparer = preparer
        self.cancel = cancel
        self.progress_cb = progress
        self.tracker = ProgressTracker()
        self.journal: Journal | None = None
        self._locks: list[JournalLock] = []
        self.folder_errors: set[str] = set()  # unreadable folders met in this run
        self._last_render = 0.0
        self._render_cost = 0.0
        self._dirty = False
        self._output_keys = output_keys(settings)  # what no sidecar may replace

    # -- the prefetch side (runs on the worker thread) --------------------------------------

    def _entries(self, *, cleanup: bool) -> Iterator[ScanEntry]:
        exclude = [p for p in (self.s.csv, self.s.jsonl, self.s.journal) if p is not None]
        on_temp = (
            (self._remove_temp if self.s.write_metadata else remove_temp_file) if cleanup else None
        )
        return scan_images(
            self.s.folder, recursive=self.s.recursive, exclude=exclude, on_temp_file=on_temp
        )

    @staticmethod
    def _remove_temp(tmp: str) -> bool:
        return remove_temp_file(tmp) or remove_photo_temp(tmp)

    def _prepare(self, entry: ScanEntry) -> Work:
        display = display_path(entry.relpath)
        if entry.error is not None:
            return Work(entry, display, done=self._failed(entry, display, entry.error))
        try:
            st = os.stat(entry.path)
        except OSError as e:
            reason = f"the file disappeared or cannot be read ({e.strerror or e})"
            return Work(entry, display, done=self._failed(entry, display, reason))
        size, mtime = st.st_size, st.st_mtime_ns
        prior = self._skip(entry, display, size, mtime)
        if prior is not None:
            return Work(entry, display, size, mtime, done=prior)
        if size == 0:
            failed = self._failed(entry, display, "empty file (0 bytes)")
            return Work(entry, display, size, mtime, done=failed)
        try:
            pixels = self.preparer(entry.path, name=display)
        except Exception as e:  # ImageError from the engine or the decode pool, anything else
            reason = getattr(e, "reason", None) or str(e) or type(e).__name__
            return Work(entry, display, size, mtime, done=self._failed(entry, display, reason))
        return Work(entry, display, size, mtime, pixels=pixels)

    def _skip(self, entry: ScanEntry, display: str, size: int, mtime: int) -> BatchResult | None:
        rec = self.journal.get(entry.relpath) if (self.journal and self.s.resume) else None
        policy = self.s.sidecars.value if self.s.sidecars else None
        if (
            rec
            and rec.get("size") == size
            and rec.get("mtime_ns") == mtime
            and (policy is None or rec.get("sidecars") == policy)  # a sidecar is owed: redo
            and (policy is None or recorded_sidecar(rec, entry.path) == entry.sidecar.name)
            and rec.get("metadata") == signature(self.s)  # alt text owed, or other options: redo
        ):
            status = ResultStatus(rec.get("status", "failed"))
            if status is ResultStatus.OK or not self.s.retry_failed:
                caption, score, error = rec.get("caption") or "", rec.get("score"), rec.get("error")
                return BatchResult(entry.path, display, status, caption, score, error,
                                   resumed=True, alt_text=rec.get("alt_text"))  # fmt: skip
        if (
            self.s.sidecars is SidecarPolicy.SKIP
            and self.s.csv is None
            and self.s.jsonl is None
            and is_regular_file(entry.sidecar)
        ):  # nothing would use the caption: do not compute it (a symlink, FIFO... fails later)
            kept = SidecarOutcome.KEPT.value
            return BatchResult(entry.path, display, ResultStatus.OK, resumed=True, sidecar=kept)
        if skip_without_caption(self.s, entry.path):  # the same for alt text, when described
            skipped = {"skipped": "it already has alt text"}
            return BatchResult(entry.path, display, ResultStatus.OK, resumed=True, alt_text=skipped)
        return None

    @staticmethod
    def _failed(entry: ScanEntry, display: str, reason: str) -> BatchResult:
        return BatchResult(entry.path, display, ResultStatus.FAILED, error=reason)

    # -- the model side (the caller's thread) ------------------------------------------------

    def results(self) -> Iterator[BatchResult]:
        s = self.s
        completed = False
        stop_count: threading.Event | None = None
        works: Iterator[Work] | None = None
        try:
            for out in (s.csv, s.jsonl):
                if out is not None:
                    remove_stale_temps(out)
            prepare_outputs(s)
            # the journal's lock covers its own outputs; another batch with another journal
            # may still name the same CSV or JSONL: each output is locked too
            for out in (s.csv, s.jsonl):
                if out is not None:
                    self._locks.append(JournalLock.acquire(out))
            if s.journal is not None:
                self.journal = Journal.open(s.journal, self._header(), resume=s.resume)
            stop_count = count_in_background(self._entries(cleanup=False), self._set_total)
            works = prefetch(
                self._entries(cleanup=True), self._prepare, depth=s.prefetch, cancel=self.cancel
            )
            for work, cap in self._captions(works):
                result = work.done or self._result(work, cap)
                if work.entry.error is not None:
                    self.folder_errors.add(work.entry.relpath)
                if not result.resumed and self.journal is not None:
                    self._record(work, result)
                result = replace(result, progress=self.tracker.add(result))
                if self.progress_cb is not None:
                    self.progress_cb(result.progress)  # type: ignore[arg-type]
                yield result
                self._checkpoint()
            else:
                completed = not (self.cancel is not None and self.cancel.is_set())
        except BaseException:
            _stop(works, stop_count)
            self._finish(False, failing=True)
            raise
        finally:
            _stop(works, stop_count)
            self._finish(completed)

    def _captions(self, works: Iterator[Work]) -> Iterator[tuple[Work, Any]]:
        """`(work, caption)` in order, as many images at once as the engine's sessions leave
        cores for (engine/pipeline.py); a caption never depends on its neighbours. Ends at the
        first caption a cancel interrupted: that one is not finished and not written."""
        from ..engine.pipeline import caption_stream, lanes_for

        items = ((w, None if w.done else w.pixels, w.display) for w in works)
        yield from caption_stream(
            _Guarded(self.captioner),
            items,
            beams=self.s.beams,
            max_new_tokens=self.s.max_new_tokens,
            cancel=self.cancel,
            lanes=lanes_for(self.captioner),
        )

    def _result(self, work: Work, cap: Any) -> BatchResult:
        seconds = getattr(cap, "seconds", 0.0)
        path, display = work.entry.path, work.display
        if getattr(cap, "error", None):
            return BatchResult(path, display, ResultStatus.FAILED, error=str(cap.error))
        result = BatchResult(path, display, ResultStatus.OK, cap.text, cap.score, None, seconds)
        if self.s.sidecars is not None:
            result = self._sidecar(result, work.entry)
        if self.s.write_metadata and result.ok:
            result = self._alt_text(result)
        return result

    def _alt_text(self, result: BatchResult) -> BatchResult:
        try:
            alt_text = write_photo(result.path, result.caption, self.s)
        except OutputError as e:
            log.warning("alt text for %s: %s", result.relpath, e)
            error = f"alt text not written: {e.reason}"
            return replace(result, status=ResultStatus.FAILED, error=error, alt_text=None)
        return replace(result, alt_text=alt_text)

    def _sidecar(self, result: BatchResult, entry: ScanEntry) -> BatchResult:
        assert self.s.sidecars is not None
        try:
            outcome = write_sidecar(result.path, result.caption, self.s.sidecars,
                                    side=entry.sidecar, forbidden=self._output_keys)  # fmt: skip
        except OutputError as e:
            log.warning("sidecar for %s: %s", result.relpath, e)
            error = f"sidecar not written: {e}"
            return replace(result, status=ResultStatus.FAILED, error=error, sidecar="failed")
        return replace(result, sidecar=outcome.value)

    def _record(self, work: Work, result: BatchResult) -> None:
        assert self.journal is not None
        key, size, mtime = work.entry.relpath, work.size, work.mtime_ns
        policy = self.s.sidecars.value if self.s.sidecars else None
        rec = {"key": key, "size": size, "mtime_ns": mtime, "sidecars": policy, **result.row()}
        if policy is not None:
            rec["sidecar_name"] = work.entry.sidecar.name
        if self.s.write_metadata:
            rec["metadata"] = signature(self.s)
            rec["alt_text"] = result.alt_text
            if wrote_file(result.alt_text):  # the photo as we left it is the one done
                rec["size"], rec["mtime_ns"] = _stat_of(work.entry.path, size, mtime)
        if work.entry.error is not None:
            rec["kind"] = "folder"
        self.journal.append(rec)
        self._dirty = True

    def _header(self) -> dict[str, Any]:
        s = self.s
        return {
            "root": os.path.realpath(s.folder),
            "recursive": s.recursive,
            "model": str(getattr(self.captioner, "model_name", "")),
            "beams": s.beams,
            "max_new_tokens": s.max_new_tokens,
        }

    def _gone(self, rec: dict[str, Any]) -> bool:
        if rec.get("kind") == "folder":
            return rec["key"] not in self.folder_errors
        return not os.path.lexists(os.path.join(self.s.folder, rec["key"]))

    def _set_total(self, n: int) -> None:
        self.tracker.total = n

    def _checkpoint(self) -> None:
        if not self._dirty:
            return
        now = time.monotonic()
        wait = max(CHECKPOINT_SECONDS, CHECKPOINT_COST_FACTOR * self._render_cost)
        if now - self._last_render >= wait and self.journal is not None:
            self._render(self.journal)

    def _render(self, journal: Journal) -> None:
        self._dirty = False
        if self.s.csv is None and self.s.jsonl is None:
            return
        t0 = time.monotonic()
        if self.s.csv is not None:
            render_csv(self.s.csv, _rows(journal))
        if self.s.jsonl is not None:
            render_jsonl(self.s.jsonl, _rows(journal))
        self._last_render = time.monotonic()
        self._render_cost = self._last_render - t0

    def _finish(self, completed: bool, *, failing: bool = False) -> None:
        """Render the outputs one last time and close the journal (once); release the locks."""
        journal, self.journal = self.journal, None
        locks, self._locks = self._locks, []
        try:
            if journal is not None:
                self._close(journal, completed, failing)
        finally:
            for lock in locks:
                lock.release()

    def _close(self, journal: Journal, completed: bool, failing: bool) -> None:
        try:
            if completed:  # the whole folder was seen: images gone since an earlier run leave
                gone = {r["key"] for r in journal.records() if self._gone(r)}
                if gone:
                    journal.forget(gone)
            self._render(journal)
        except OutputError as e:
            if not failing:
                raise
            log.warning("outputs not brought up to date: %s", e)
        finally:
            try:
                journal.close()
            except OutputError as e:  # the error that ended the batch is the one to report
                if not failing:
                    raise
                log.warning("journal not closed cleanly: %s", e)


def _stat_of(path: str, size: int, mtime: int) -> tuple[int, int]:
    try:
        st = os.stat(path)
    except OSError:  # gone meanwhile: the next run sees it as changed and redoes it
        return size, mtime
    return st.st_size, st.st_mtime_ns


def _rows(journal: Journal) -> Iterator[dict[str, Any]]:
    for rec in journal.records():
        row = dict(rec)
        row["path"] = display_path(rec["key"])
        yield row


def _stop(works: Iterator[Work] | None, stop_count: threading.Event | None) -> None:
    if stop_count is not None:
        stop_count.set()
    close = getattr(works, "close", None)
    if close is not None:
        close()  # stops the prefetch thread before the outputs are rendered


class _Failure:
    """What `_Guarded` hands back for an image whose captioning raised."""

    def __init__(self, error: str) -> None:
        self.error = error
        self.seconds = 0.0


class _Guarded:
    """One image's unexpected failure becomes that image's failed result, never the batch's end;
    a cancel and a broken model (`ModelError`) still end the batch."""

    def __init__(self, captioner: Any) -> None:
        self.captioner = captioner

    def caption_pixels(self, pixels: Any, *, source: str = "", **kw: Any) -> Any:
        try:
            return self.captioner.caption_pixels(pixels, source=source, **kw)
        except (Cancelled, ModelError):
            raise
        except Exception as e:
            log.exception("captioning %s failed", source)
            return _Failure(f"captioning failed: {e}")
