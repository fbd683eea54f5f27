"""What a ``batch`` captions: ``DIR`` (a folder, or with ``--ray`` an ``s3://``/``gs://``/
``file://`` URI) with ``--recursive``, or ``--files-from LIST`` (jobs/filelist.py)."""

from __future__ import annotations

import argparse
from typing import Any

from .jobs.filelist import ListedFile, read_file_list


def add_options(p: argparse.ArgumentParser) -> None:
    """``DIR``, ``--files-from LIST`` and ``--recursive``."""
    p.add_argument(
        "folder",
        metavar="DIR",
        nargs="?",
        help="the folder of images (with --ray also an s3://, gs:// or file:// URI)",
    )
    p.add_argument(
        "--files-from",
        metavar="LIST",
        help="caption the files LIST names, one per line, in place of DIR (UTF-8; blank lines "
        "and # comments skipped; relative paths from LIST's folder; - reads standard input)",
    )
    p.add_argument("-r", "--recursive", action="store_true", help="include subfolders")


def inputs_of(args: argparse.Namespace) -> tuple[str, tuple[ListedFile, ...] | None]:
    """The batch's folder and its listed files (None: the folder's images); ``ValueError`` for
    a usage error, ``ValueError``/``OSError`` naming a list that cannot be read."""
    folder: Any = args.folder
    if getattr(args, "files_from", None) is None:
        if folder is None:
            raise ValueError("give the folder of images (DIR) or --files-from LIST")
        return folder, None
    if folder is not None:
        raise ValueError("give DIR or --files-from LIST, not both")
    if args.recursive:
        raise ValueError("--recursive applies to DIR, not to the files of --files-from")
    return read_file_list(args.files_from)
