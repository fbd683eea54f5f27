"""Alt text from the captioning commands: `caption FILE... --write` and `batch DIR
--write-metadata`, with the options `metadata write` has (``--skip-described``, ``--overwrite``,
``--exif/--no-exif``, ``--iim/--no-iim``).

`caption --write`: each caption goes into its photo (``metadata.write_alt_text``); standard
output keeps the captions as without ``--write`` (scripts read it), and a line on standard
error says where each one went; with ``--json`` each object gets an ``alt_text`` field (the
``WriteResult``, or ``{"error": ...}``). A refused photo is one line naming it and makes the exit
code 1; the other files go on.
"""

from __future__ import annotations

import argparse
from typing import Any

from .cli_output import error

PROG = "nanocaption-desktop"


def add_options(parser: argparse.ArgumentParser, *, flag: str) -> None:
    """``flag`` (``--write`` / ``--write-metadata``) and the policy options beside it."""
    g = parser.add_argument_group("alt text in the photos")
    g.add_argument(
        flag,
        dest="write_metadata",
        action="store_true",
        help="write each caption into its photo as alt text (XMP; a sidecar where it cannot go)",
    )
    g.add_argument(
        "--skip-described", action="store_true", help="leave photos that have alt text already"
    )
    g.add_argument("--overwrite", action="store_true", help="replace a description a person wrote")
    for name, what in (("exif", "EXIF ImageDescription"), ("iim", "IPTC IIM Caption-Abstract")):
        g.add_argument(
            f"--{name}",
            action=argparse.BooleanOptionalAction,
            default=None,
            help=f"also write {what} (default: only when the photo has it already)",
        )


def spec_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The ``BatchSpec`` fields these options set."""
    return {
        "write_metadata": args.write_metadata,
        "skip_described": args.skip_described,
        "overwrite": args.overwrite,
        "exif": args.exif,
        "iim": args.iim,
    }


def usage_problem(args: argparse.Namespace, flag: str) -> str | None:
    """The policy options mean nothing without ``flag``: a usage error rather than a surprise."""
    if args.write_metadata:
        return None
    used = [o for o in ("skip_described", "overwrite") if getattr(args, o)]
    used += [o for o in ("exif", "iim") if getattr(args, o) is not None]
    return f"--{used[0].replace('_', '-')} needs {flag}" if used else None


def write_caption(args: argparse.Namespace, source: str, text: str) -> dict[str, Any]:
    """Write one caption into its photo; the ``alt_text`` JSON field. Says on standard error
    where it went, or why not (a refused photo: one line naming it)."""
    from .ground.errors import MetadataError
    from .jobs.photo_writes import compact, describe, write_with

    try:
        result = write_with(source, text, args)
    except MetadataError as e:
        error(f"{PROG}: {source}: alt text not written: {e.reason}")
        return {"error": e.reason}
    alt_text = compact(result.to_dict())
    error(f"{PROG}: {source}: {describe(alt_text)}")
    for note in result.notes:
        error(f"{PROG}: {source}: note: {note}")
    return alt_text
