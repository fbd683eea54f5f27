"""`metadata show FILE...` and `metadata write FILE --text TEXT`: the descriptions in photos.

`show` prints one JSON object per file (JSON Lines): every field found, where, which one wins
and why; a file that cannot be read is one line on standard error and exit code 1 (as
`caption`). `write` writes a caption a person edited (``--text -`` reads it from standard
input) and says where it went; ``--json`` prints the full result. A refused file (read-only,
malformed, changed meanwhile, disk full...) is one line naming it and exit code 2; a photo
skipped by policy (a person's alt text) exits 0 and says why.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .cli_output import error

PROG = "nanocaption-desktop"
OK, SOME_FAILED, REFUSED = 0, 1, 2


def add_parser(subparsers: Any, parser_class: Any) -> argparse.ArgumentParser:
    """Add ``metadata`` (with ``show`` and ``write``) to an argparse subparsers object."""
    m = subparsers.add_parser("metadata", help="read descriptions in photos, write alt text")
    msub = m.add_subparsers(
        dest="metadata_command", required=True, parser_class=parser_class, metavar="{show,write}"
    )
    s = msub.add_parser("show", help="print every description a photo holds, as JSON lines")
    s.add_argument("files", nargs="+", metavar="FILE")
    w = msub.add_parser(
        "write",
        help="write alt text into a photo (or its XMP sidecar)",
        description="Write TEXT as the photo's alt text (XMP AltTextAccessibility; "
        "dc:description when empty or ours; EXIF / IIM when present or asked), losslessly.",
    )
    w.add_argument("file", metavar="FILE")
    w.add_argument("--text", required=True, help="the alt text ('-': read standard input)")
    w.add_argument("--json", action="store_true", help="print the result as JSON")
    w.add_argument("--overwrite", action="store_true", help="replace a person's description")
    w.add_argument(
        "--skip-described", action="store_true", help="do nothing when it has alt text already"
    )
    for flag, what in (("exif", "EXIF ImageDescription"), ("iim", "IPTC IIM Caption-Abstract")):
        w.add_argument(
            f"--{flag}",
            action=argparse.BooleanOptionalAction,
            default=None,
            help=f"write {what} (default: only when the photo has it already)",
        )
    w.add_argument(
        "--exif-non-ascii", action="store_true", help="allow non-ASCII EXIF (Exif 3.0 UTF-8)"
    )
    w.add_argument(
        "--sidecar",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="XMP only into photo.ext.xmp (--no-sidecar: refuse rather than write one)",
    )
    w.add_argument("--keep-mtime", action="store_true", help="keep the file's modification time")
    m.set_defaults(handler=run)
    return m


def run(args: argparse.Namespace) -> int:
    if args.metadata_command == "show":
        return _show(args.files)
    return _write(args)


def _show(files: list[str]) -> int:
    from .ground.errors import MetadataError
    from .metadata import read_descriptions

    failed = 0
    for path in files:
        try:
            found = read_descriptions(path)
        except MetadataError as e:
            failed += 1
            error(f"{PROG}: {e}")
            continue
        print(json.dumps(found.to_dict(), ensure_ascii=False), flush=True)
    return SOME_FAILED if failed else OK


def _write(args: argparse.Namespace) -> int:
    from .ground.errors import MetadataError
    from .metadata import write_alt_text

    text = sys.stdin.read() if args.text == "-" else args.text
    try:
        result = write_alt_text(
            args.file,
            text,
            overwrite=args.overwrite,
            skip_described=args.skip_described,
            exif=args.exif,
            iim=args.iim,
            exif_non_ascii=args.exif_non_ascii,
            keep_mtime=args.keep_mtime,
            sidecar=args.sidecar,
        )
    except MetadataError as e:
        error(f"{PROG}: {e}")
        return REFUSED
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False))
        return OK
    for note in result.notes:
        error(f"{PROG}: {args.file}: note: {note}")
    print(_say(result))
    return OK


def _say(result: Any) -> str:
    fields = ", ".join(result.fields)
    if result.skipped:
        return f"skipped {result.path}: {result.skipped}"
    if result.unchanged:
        return f"unchanged {result.path}: it already holds this text"
    if result.where == "sidecar":
        return f"wrote {result.sidecar} ({fields})"
    if result.where == "file+sidecar":
        return f"wrote {result.path} and {result.sidecar} ({fields})"
    return f"wrote {result.path} ({fields})"
