"""What a folder batch is asked to do: one frozen dataclass, built by the CLI, the window and
the API (``caption_folder(spec)`` or ``caption_folder(path, **fields)``)."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from .filelist import ListedFile, listed_files
from .writers import SidecarPolicy

#: Images decoded ahead of the model when nobody says otherwise.
DEFAULT_PREFETCH = 4
#: Images decoded together in one weight pass when nobody says otherwise (greedy captions only;
#: engine/rows.py, engine/groups.py): chosen by tests/benchmarks/bench_speed.py --rows, see
#: docs/performance.md "Several images per weight pass".
DEFAULT_ROWS = 8


@dataclass(frozen=True)
class BatchSpec:
    """A batch's choices, the one place its fields are written.

    ``folder``: the folder of images (``recursive``: with its subfolders). Outputs: ``csv`` and
    ``jsonl`` files and/or ``.txt`` ``sidecars`` with a policy for existing ones (``"skip"``,
    ``"overwrite"``, ``"append"``); ``journal``: the record of what is done (default: next to
    the CSV or JSONL, for sidecars alone in the user data folder). With ``resume`` a run of the
    same batch skips images done earlier and unchanged, and with ``retry_failed`` redoes the
    failed ones. ``beams`` / ``max_new_tokens``: None for the model's own settings.
    ``prefetch``: images decoded ahead of the model (speed and memory, never a caption; 1 or
    more). ``rows``: images decoded together, one weight pass for all (1 to
    ``MAX_ROWS``; speed and memory, never a caption; greedy only, a beam search takes one image
    at a time). ``isolate``: decode in a worker process, so a decoder crash or hang costs one file.
    ``model``: the bundle folder to load when no captioner is given (None: the installed one).
    ``write_metadata``: write each caption into its photo as alt text (``metadata``; a refused
    photo fails that image); ``skip_described``: leave photos that have alt text; ``overwrite``:
    replace a person's description; ``exif`` / ``iim``: also EXIF ImageDescription / IIM
    Caption-Abstract (None: only where the photo has them; False: never). See
    ``photo_writes.py`` for what the journal keeps and the resume rule.

    ``files``: the images to caption in place of the folder's (``batch --files-from``; see
    ``filelist.py``): paths (relative ones resolved against ``folder``) or, on a Ray cluster,
    ``s3://``/``gs://``/``file://`` URIs; keys are relative to ``folder``. ``folder`` itself may
    be such a URI on a Ray cluster (scale/inputs.py).

    Strings are accepted for the paths and the sidecar policy and stored as ``Path`` and
    ``SidecarPolicy``, so specs built from a command line, a window or keywords compare equal
    for the same choices.
    """

    folder: str
    recursive: bool = False
    csv: Path | None = None
    jsonl: Path | None = None
    sidecars: SidecarPolicy | None = None
    journal: Path | None = None
    resume: bool = True
    retry_failed: bool = True
    beams: int | None = None
    max_new_tokens: int | None = None
    prefetch: int = DEFAULT_PREFETCH
    rows: int = DEFAULT_ROWS
    isolate: bool = False
    model: Path | None = None
    write_metadata: bool = False
    skip_described: bool = False
    overwrite: bool = False
    exif: bool | None = None
    iim: bool | None = None
    files: tuple[ListedFile, ...] | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalise once, here
        set_(self, "folder", os.fspath(self.folder))
        for name in ("csv", "jsonl", "journal", "model"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Path):
                set_(self, name, Path(value))
        if self.sidecars is not None and not isinstance(self.sidecars, SidecarPolicy):
            set_(self, "sidecars", SidecarPolicy(self.sidecars))
        set_(self, "prefetch", max(1, int(self.prefetch)))
        set_(self, "files", listed_files(self.files))

    @property
    def uris(self) -> tuple[str, ...]:
        """The URIs among the batch's inputs (its folder or listed files): what only a batch on
        a Ray cluster reads."""
        from .filelist import is_uri

        named = [f.text for f in self.files] if self.files is not None else [self.folder]
        return tuple(x for x in named if is_uri(x))

    @property
    def outputs(self) -> tuple[Path, ...]:
        """The CSV and JSONL outputs asked for, in that order."""
        return tuple(p for p in (self.csv, self.jsonl) if p is not None)


#: The names ``caption_folder(path, **fields)`` takes as keywords (every field but ``folder``).
SPEC_FIELDS = frozenset(f.name for f in fields(BatchSpec)) - {"folder"}


def spec_of(path_or_spec: Any, fields_: dict[str, Any], *, caller: str) -> BatchSpec:
    """A ``BatchSpec`` as it is, or one built from a folder and keywords; a ``TypeError`` (as
    for any wrong call) for an unknown keyword or for a spec plus keywords."""
    if isinstance(path_or_spec, BatchSpec):
        if fields_:
            raise TypeError(
                f"{caller}() takes a BatchSpec or a folder with keywords, not both "
                f"(got {', '.join(sorted(fields_))}); use dataclasses.replace(spec, ...)"
            )
        return path_or_spec
    unknown = sorted(set(fields_) - SPEC_FIELDS)
    if unknown:
        raise TypeError(f"{caller}() got an unexpected keyword argument {unknown[0]!r}")
    return BatchSpec(path_or_spec, **fields_)
