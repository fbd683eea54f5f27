"""The review workspace's model: items, their states and every transition, as pure functions.

An ``Item`` is one image under review. Its ``state`` is one of ``State``; the rules:

- ``captioned``: a model (or a retry, a regenerate, beam search) gave it a caption; the text a
  person saw before (their own edit included) goes to ``alternatives``, never away;
- ``edited``: a person changed the text (``edit``) or picked an alternative (``pick``); the
  model's text and score stay in ``model_text`` / ``score``, but ``text_score`` is None: the
  score belongs to the model's text, not to the person's;
- ``approved``: a person accepted the current text (``approve``); ``unapprove`` undoes it;
- ``written``: the current text went to ``targets`` (``written``); an edit after that makes it
  ``edited`` (unwritten) again;
- ``failed``: captioning failed (``failed``); ``reason`` says why, a text already there stays;
- a photo changed on disk since it was captioned (``photo_changed``): ``new`` again with
  ``changed`` set, its text moved to the alternatives (so it can be captioned again and nothing
  a person typed is lost); a new caption or an approval clears the mark.

Every function returns a new ``Item`` (frozen dataclasses); a ``Workspace`` is a mapping of
ids to items in display order, replaced with ``with_items``. Nothing here touches the disk.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from types import MappingProxyType

from ..ground.errors import RequestError
from .cleanup import DEFAULT_CLEANUP, CleanupOptions, clean

#: a caption whose score (the mean log-probability of its tokens) is below this is weak:
#: the model gave its average token less than ~30 % probability
WEAK_SCORE = -1.2
#: at most this many alternatives are kept per item (the oldest go first)
MAX_ALTERNATIVES = 20


class State(str, Enum):
    NEW = "new"
    CAPTIONED = "captioned"
    EDITED = "edited"
    APPROVED = "approved"
    WRITTEN = "written"
    FAILED = "failed"


class Origin(str, Enum):
    """Where a text came from."""

    MODEL = "model"  # the first caption of the model
    BEAM = "beam"  # one of beam search's N best (``rank`` says which)
    REGENERATED = "regenerated"  # a later caption of the model (regenerate, retry)
    PERSON = "person"  # typed or changed by a person


@dataclass(frozen=True)
class Identity:
    """What a photo was when it was captioned: size and mtime; ``quick_hash`` (``files.py``)
    only when it was computed, to tell a touched photo from a changed one."""

    size: int
    mtime_ns: int
    quick_hash: str | None = None


@dataclass(frozen=True)
class Alternative:
    text: str
    origin: Origin
    score: float | None = None  # the model's score of this text, if a model made it
    rank: int | None = None  # beam search: 1 is the best


@dataclass(frozen=True)
class Item:
    """One image. ``id``: the relative path in a folder workspace (``/`` separated), the
    absolute path in a session workspace. ``path``: where the photo is (absolute)."""

    id: str
    path: str
    state: State = State.NEW
    text: str = ""
    origin: Origin | None = None  # of ``text``
    text_score: float | None = None  # the model's score of ``text``; None once a person edits
    model_text: str | None = None  # the model's latest raw caption, kept after edits
    score: float | None = None  # the score of ``model_text``
    alternatives: tuple[Alternative, ...] = ()
    reason: str | None = None  # why it failed
    targets: tuple[str, ...] = ()  # where the text was last written
    identity: Identity | None = None  # the photo as it was when captioned
    changed: bool = False  # the photo changed on disk since it was captioned
    repetition: bool = False  # the model's text repeated a phrase (cleanup collapsed it)
    shared_stem: bool = False  # another image of its folder has its stem (sidecar naming)

    @property
    def unwritten(self) -> bool:
        return self.state is State.APPROVED

    @property
    def flagged(self) -> bool:
        """Needs a look at the default threshold (``flags`` takes another); computed, never
        stored, so a new threshold applies to every item at once."""
        return bool(flags(self))


def new_item(item_id: str, path: str | os.PathLike[str], *, shared_stem: bool = False) -> Item:
    return Item(id=item_id, path=os.fspath(path), shared_stem=shared_stem)


def _remember(alts: tuple[Alternative, ...], alt: Alternative | None) -> tuple[Alternative, ...]:
    """``alt`` first (an older copy of the same text dropped), at most MAX_ALTERNATIVES."""
    if alt is None or not alt.text.strip():
        return alts
    rest = tuple(a for a in alts if a.text != alt.text)
    return ((alt,) + rest)[:MAX_ALTERNATIVES]


def _current(item: Item) -> Alternative | None:
    if not item.text.strip():
        return None
    return Alternative(item.text, item.origin or Origin.PERSON, item.text_score)


def captioned(
    item: Item,
    model_text: str,
    score: float | None,
    identity: Identity | None,
    *,
    cleanup: CleanupOptions | None = DEFAULT_CLEANUP,
    origin: Origin = Origin.MODEL,
    others: Iterable[tuple[str, float | None]] = (),
) -> Item:
    """A model's caption arrived: ``model_text`` (raw) with ``score``. The person sees it
    cleaned (``cleanup``; None: as it is); the previous text becomes an alternative (a model's
    caption over an earlier text is ``REGENERATED``). ``others``: beam search's further
    candidates (best first, ranks from 2), as alternatives. ``identity``: the photo captioned
    (``files.identity_of(path, with_hash=True)``); a changed photo captioned again is no longer
    ``changed``."""
    if item.text.strip() and origin is Origin.MODEL:
        origin = Origin.REGENERATED
    tidy = (lambda t: clean(t, cleanup)) if cleanup is not None else None
    alts = _remember(item.alternatives, _current(item))
    for rank, (other, other_score) in reversed(list(enumerate(others, start=2))):
        shown_other = tidy(other).text if tidy else other
        alts = _remember(alts, Alternative(shown_other, Origin.BEAM, other_score, rank))
    cleaned = tidy(model_text) if tidy else None
    shown = cleaned.text if cleaned else model_text
    alts = tuple(a for a in alts if a.text != shown)
    return replace(
        item,
        state=State.CAPTIONED,
        text=shown,
        origin=origin,
        text_score=score,
        model_text=model_text,
        score=score,
        alternatives=alts,
        reason=None,
        identity=identity if identity is not None else item.identity,
        changed=False,
        repetition=bool(cleaned and cleaned.repetition),
    )


def edit(item: Item, text: str) -> Item:
    """A person's text. The text before goes to the alternatives unless it was the person's
    own (typing is one edit; the editor's undo stack has the keystrokes)."""
    if text == item.text:
        return item  # nothing changed (an editor that commits an untouched text)
    alts = item.alternatives
    if item.origin is not Origin.PERSON:
        alts = _remember(alts, _current(item))
    alts = tuple(a for a in alts if a.text != text)
    return replace(
        item, state=State.EDITED, text=text, origin=Origin.PERSON, text_score=None,
        alternatives=alts, reason=None,
    )  # fmt: skip


def pick(item: Item, index: int) -> Item:
    """Make alternative ``index`` the text; the current text becomes an alternative. A person
    chose it, so the item is ``edited``; a model's text keeps its own score."""
    if not 0 <= index < len(item.alternatives):
        raise RequestError(f"{item.id}: no alternative {index}")
    chosen = item.alternatives[index]
    rest = item.alternatives[:index] + item.alternatives[index + 1 :]
    alts = _remember(rest, _current(item))
    alts = tuple(a for a in alts if a.text != chosen.text)
    return replace(
        item, state=State.EDITED, text=chosen.text, origin=chosen.origin,
        text_score=chosen.score, alternatives=alts, reason=None,
    )  # fmt: skip


def approve(item: Item) -> Item:
    """The person accepts the text (for a changed photo too: no longer flagged). A written
    item stays written (that text is out already); an empty text cannot be approved
    (``RequestError``)."""
    if not item.text.strip():
        raise RequestError(f"{item.id}: nothing to approve, the caption is empty")
    if item.state in (State.APPROVED, State.WRITTEN):
        return item
    return replace(item, state=State.APPROVED, reason=None, changed=False)


def unapprove(item: Item) -> Item:
    """Back from approved: ``edited`` for a person's text, ``captioned`` for a model's."""
    if item.state is not State.APPROVED:
        return item
    back = State.EDITED if item.origin is Origin.PERSON else State.CAPTIONED
    return replace(item, state=back)


def written(item: Item, targets: Iterable[str], identity: Identity | None = None) -> Item:
    """The text went to ``targets``; ``identity``: the photo after the write (alt text in the
    photo changes its size and mtime; it is not a changed photo)."""
    if not item.text.strip():
        raise RequestError(f"{item.id}: nothing was written, the caption is empty")
    return replace(
        item,
        state=State.WRITTEN,
        targets=tuple(dict.fromkeys(targets)),
        identity=identity if identity is not None else item.identity,
        reason=None,
    )


def failed(item: Item, reason: str) -> Item:
    """Captioning failed; a text already there (a person's included) stays."""
    return replace(item, state=State.FAILED, reason=reason or "failed")


def photo_changed(item: Item, identity: Identity) -> Item:
    """The photo on disk is not the one captioned: captioned again later; the old text is an
    alternative now, the old score is gone with the old photo."""
    return replace(
        item,
        state=State.NEW,
        text="",
        origin=None,
        text_score=None,
        model_text=None,
        score=None,
        alternatives=_remember(item.alternatives, _current(item)),
        reason=None,
        identity=identity,
        changed=True,
        repetition=False,
    )


def flags(item: Item, weak_score: float = WEAK_SCORE) -> tuple[str, ...]:
    """Why an item needs a look ('' none): failed, changed, a weak score or a repeated phrase
    in the model's text (while that text is what is shown)."""
    found = []
    if item.state is State.FAILED:
        found.append("failed")
    if item.changed:
        found.append("changed")
    if item.text_score is not None and item.text_score < weak_score:
        found.append("weak score")
    if item.repetition and item.origin is not Origin.PERSON:
        found.append("repetition")
    return tuple(found)


def is_flagged(item: Item, weak_score: float = WEAK_SCORE) -> bool:
    return bool(flags(item, weak_score))


@dataclass(frozen=True)
class Workspace:
    """Items by id in display order. ``kind``: "folder" (``root`` is the folder) or "session"
    (loose files dropped; ``root`` None). ``id``: ``folder:<resolved path>`` or
    ``session:<stamp>``. The mapping is read-only; ``with_items`` makes the next workspace."""

    id: str
    kind: str
    root: str | None
    items: Mapping[str, Item] = field(default_factory=lambda: MappingProxyType({}))
    title: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.items, MappingProxyType):
            object.__setattr__(self, "items", MappingProxyType(dict(self.items)))

    def __len__(self) -> int:
        return len(self.items)

    def get(self, item_id: str) -> Item:
        try:
            return self.items[item_id]
        except KeyError:
            raise RequestError(f"{self.id}: no image {item_id!r} in this workspace") from None

    def ids(self) -> list[str]:
        return list(self.items)

    def count(self, state: State) -> int:
        return sum(1 for item in self.items.values() if item.state is state)


def with_items(ws: Workspace, items: Iterable[Item]) -> Workspace:
    """``ws`` with ``items`` replaced (by id) or added at the end."""
    merged = dict(ws.items)
    for item in items:
        merged[item.id] = item
    return replace(ws, items=MappingProxyType(merged))


def without(ws: Workspace, ids: Iterable[str]) -> Workspace:
    gone = set(ids)
    return replace(ws, items={k: v for k, v in ws.items.items() if k not in gone})


def replace_location(item: Item, path: str, shared_stem: bool) -> Item:
    """The same photo found at ``path`` (a moved folder) or with a new sidecar naming."""
    return replace(item, path=path, shared_stem=shared_stem)


def replace_identity(item: Item, identity: Identity) -> Item:
    """The same photo, touched (same content, new mtime)."""
    return replace(item, identity=identity)


def offered(item: Item, model_text: str, score: float | None, shown: str) -> Item:
    """A model's caption that must not replace a person's text (a batch run over reviewed
    images): ``shown`` (its cleaned text) becomes the first alternative; ``model_text`` and
    ``score`` are the model's latest; the text and state stay."""
    alt = Alternative(shown, Origin.REGENERATED, score)
    alts = _remember(item.alternatives, alt) if shown != item.text else item.alternatives
    return replace(item, model_text=model_text, score=score, alternatives=alts)
