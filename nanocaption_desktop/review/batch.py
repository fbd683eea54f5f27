"""A batch's results as workspace items: the batch table and the editor show one workspace.

``from_batch(ws, result)`` is the item a ``jobs.BatchResult`` makes of the workspace's item
(the id is the result's relative path: the batch ran over the workspace's folder):

- a caption for an image without a person's text: ``captioned`` (cleaned, the old text an
  alternative);
- a caption for an image whose text a person wrote or approved (edited, approved, written):
  the person's text stays, the model's caption is offered as the first alternative; only an
  explicit regenerate (``model.captioned``, undoable in the window) replaces it;
- a result the batch resumed from its journal (done in an earlier run) for an image that
  already has a text: nothing changes;
- a failure: ``failed`` (a text already there stays).

``identity`` is the photo's as the batch read it; ``files.identity_of(path)`` (one stat) when
the caller has none. Pure: the caller applies the item.
"""

from __future__ import annotations

import os

from ..jobs.results import BatchResult
from . import model
from .cleanup import DEFAULT_CLEANUP, CleanupOptions, clean
from .model import Identity, Item, Origin, State, Workspace

#: states in which the text is a person's decision, never replaced by a batch
_DECIDED = (State.EDITED, State.APPROVED, State.WRITTEN)


def batch_id(result: BatchResult) -> str:
    return result.relpath.replace(os.sep, "/")


def from_batch(
    ws: Workspace,
    result: BatchResult,
    identity: Identity | None = None,
    *,
    cleanup: CleanupOptions | None = DEFAULT_CLEANUP,
) -> Item:
    key = batch_id(result)
    item = ws.items.get(key) or model.new_item(key, result.path)
    if not result.ok:
        return model.failed(item, result.error or "failed")
    if result.resumed and item.text.strip():
        return item
    if item.state in _DECIDED and item.text.strip():
        shown = clean(result.caption, cleanup).text if cleanup else result.caption
        return model.offered(item, result.caption, result.score, shown)
    origin = Origin.REGENERATED if item.text.strip() else Origin.MODEL
    return model.captioned(
        item, result.caption, result.score, identity, cleanup=cleanup, origin=origin
    )
