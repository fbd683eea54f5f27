"""Writing approved captions out: alt text in the photo (the default), ``.txt`` sidecars, a CSV
or a JSON Lines file; every item's outcome reported, one failure never stopping the rest.

- **Alt text** goes through ``metadata.write_alt_text`` (lossless, atomic, verified). A
  description a person wrote in the photo is not replaced: the item's outcome is ``ASK`` with
  the reason, and the window asks; the ids it may replace go in ``overwrite``. The photo's new
  identity (its size and mtime change) is kept, so the write does not look like a changed photo.
- **Sidecars** by the batch's rules (``jobs/sidecars.py``: ``photo.txt``, ``photo.jpg.txt``
  when stems are shared; a link, FIFO or image at the path refused). One that exists and was
  not written by this workspace for that item is a person's file: ``ASK`` unless overwritten.
- **CSV / JSONL** (``jobs/writers.py``, the batch's cells, escaping and atomic replacement):
  one file of the captions written now and of every caption written to that file before and
  not changed since (not only this write's), so a second Ctrl+S never drops the rows of the
  first; an image edited after it was written is left out until it is written again. Default
  ``<folder>/captions.csv`` and ``captions.jsonl``; a session workspace must be given paths.

An item is ``written`` when every chosen target took its text; otherwise it stays as it was
and its outcome says which targets did and which did not.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from ..ground.errors import MetadataError, NanoCaptionError, RequestError
from ..jobs.filecheck import OutputError
from ..jobs.scan import sidecar_path
from ..jobs.sidecars import write_sidecar
from ..jobs.writers import SidecarOutcome, SidecarPolicy, render_csv, render_jsonl
from ..metadata import write_alt_text
from . import model
from .files import identity_of
from .model import Item, State, Workspace


class Target(str, Enum):
    ALT_TEXT = "alt-text"
    SIDECAR = "sidecar"
    CSV = "csv"
    JSONL = "jsonl"


class Outcome(str, Enum):
    WRITTEN = "written"  # every target has the text now
    ASK = "ask"  # a person's text is there: write again with the id in ``overwrite``
    FAILED = "failed"  # a target could not be written (``message`` says which and why)


@dataclass(frozen=True)
class WriteOptions:
    targets: tuple[Target, ...] = (Target.ALT_TEXT,)
    csv_path: str | None = None
    jsonl_path: str | None = None
    overwrite: frozenset[str] = field(default_factory=frozenset)  # ids: replace a person's text


@dataclass(frozen=True)
class ItemOutcome:
    id: str
    outcome: Outcome
    targets: tuple[str, ...] = ()  # where the text went (``Item.targets`` entries)
    message: str = ""


@dataclass(frozen=True)
class WriteReport:
    items: tuple[Item, ...]  # the items that changed (apply them)
    outcomes: tuple[ItemOutcome, ...]

    def by_outcome(self, outcome: Outcome) -> list[str]:
        return [o.id for o in self.outcomes if o.outcome is outcome]


@dataclass
class _Progress:
    done: list[str] = field(default_factory=list)
    ask: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def unwritten_ids(ws: Workspace) -> list[str]:
    """What Ctrl+S writes: approved captions not written since."""
    return [i for i, item in ws.items.items() if item.state is State.APPROVED]


def write_items(
    ws: Workspace, ids: Iterable[str], options: WriteOptions = WriteOptions()
) -> WriteReport:
    """Write the captions of ``ids`` to ``options.targets`` (see the module)."""
    if not options.targets:
        raise RequestError("nothing to write to: no target chosen")
    exports = _export_paths(ws, options)
    chosen = [ws.get(i) for i in dict.fromkeys(ids)]
    progress: dict[str, _Progress] = {}
    identities: dict[str, model.Identity] = {}
    for item in chosen:
        progress[item.id] = p = _Progress()
        if not item.text.strip():
            p.failed.append("the caption is empty")
            continue
        if Target.ALT_TEXT in options.targets:
            _alt_text(item, item.id in options.overwrite, p, identities)
        if Target.SIDECAR in options.targets:
            _sidecar(item, item.id in options.overwrite, p)
    ready = [i for i in chosen if not progress[i.id].failed and not progress[i.id].ask]
    for kind, path in exports:
        _export(ws, ready, kind, path, progress)
    return _report(chosen, progress, identities)


def _export_paths(ws: Workspace, options: WriteOptions) -> list[tuple[Target, Path]]:
    out = []
    for kind, given, name in (
        (Target.CSV, options.csv_path, "captions.csv"),
        (Target.JSONL, options.jsonl_path, "captions.jsonl"),
    ):
        if kind not in options.targets:
            continue
        if given is None and ws.root is None:
            raise RequestError(f"{ws.title or ws.id}: say where the {kind.value} file goes")
        out.append((kind, Path(given) if given else Path(ws.root or "") / name))
    return out


def _alt_text(
    item: Item, overwrite: bool, p: _Progress, identities: dict[str, model.Identity]
) -> None:
    try:
        result = write_alt_text(item.path, item.text, overwrite=overwrite)
    except MetadataError as e:
        p.failed.append(f"alt text: {e.reason}")
        return
    except (NanoCaptionError, OSError) as e:  # never expected; still this photo's alone
        p.failed.append(f"alt text: {e}")
        return
    if result.skipped:
        p.ask.append(f"alt text: {result.skipped}")
        return
    where = result.where or "unchanged"
    p.done.append(f"alt-text:{where}" + (f":{result.sidecar}" if result.sidecar else ""))
    try:
        identities[item.id] = identity_of(item.path, with_hash=True)
    except OSError:
        pass  # the next open finds it changed: its caption stays an alternative


def _sidecar(item: Item, overwrite: bool, p: _Progress) -> None:
    side = sidecar_path(item.path, shared_stem=item.shared_stem)
    ours = f"txt:{side}" in item.targets
    policy = SidecarPolicy.OVERWRITE if (overwrite or ours) else SidecarPolicy.SKIP
    try:
        outcome = write_sidecar(item.path, item.text, policy, side=side)
    except (OutputError, OSError) as e:
        p.failed.append(f"sidecar: {e}")
        return
    if outcome is SidecarOutcome.KEPT:
        p.ask.append(f"sidecar: {side.name} already holds other text")
        return
    p.done.append(f"txt:{side}")


def _export(
    ws: Workspace, ready: list[Item], kind: Target, path: Path, progress: dict[str, _Progress]
) -> None:
    now = {item.id for item in ready}
    rows = [
        {"path": item.id, "caption": item.text, "score": item.text_score, "status": "ok"}
        for item in ws.items.values()
        if item.id in now
        or (item.state is State.WRITTEN and f"{kind.value}:{path}" in item.targets)
    ]
    try:
        (render_csv if kind is Target.CSV else render_jsonl)(path, rows)
    except (OutputError, NanoCaptionError, OSError) as e:
        for item in ready:
            progress[item.id].failed.append(f"{kind.value}: {e}")
        return
    for item in ready:
        progress[item.id].done.append(f"{kind.value}:{path}")


def _report(
    chosen: list[Item], progress: dict[str, _Progress], identities: dict[str, model.Identity]
) -> WriteReport:
    items, outcomes = [], []
    for item in chosen:
        p = progress[item.id]
        if p.failed:
            outcomes.append(
                ItemOutcome(item.id, Outcome.FAILED, tuple(p.done), "; ".join(p.failed))
            )
        elif p.ask:
            outcomes.append(ItemOutcome(item.id, Outcome.ASK, tuple(p.done), "; ".join(p.ask)))
        else:
            new = model.written(item, p.done, identities.get(item.id))
            items.append(new)
            outcomes.append(ItemOutcome(item.id, Outcome.WRITTEN, new.targets))
            continue
        identity = identities.get(item.id)
        if identity is not None:  # the photo changed under our own write: not a changed photo
            items.append(model.replace_identity(item, identity))
    return WriteReport(tuple(items), tuple(outcomes))
