"""The ``batch`` subcommand: caption every image in a folder (``cli.py`` wires it in).

``add_parser(subparsers)`` adds the subcommand; ``run(args) -> int`` runs it. Exit codes:
0 every image ok, 1 some images failed, 2 usage, model or output error, 130 after Ctrl+C,
143 after SIGTERM (128 + the signal; what finished is written first).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from . import cli_inputs, cli_write
from .cli_progress import Bar as _Bar
from .cli_progress import clock as _clock
from .engine.errors import NanoCaptionError
from .engine.limits import (
    DEFAULT_MAX_MEGAPIXELS,
    MAX_BEAMS,
    MAX_MEGAPIXELS,
    MAX_NEW_TOKENS,
    MAX_ROWS,
    MIN_MEGAPIXELS,
)
from .jobs import BatchProgress, BatchResult, BatchSpec, SidecarPolicy, caption_folder, checked_spec
from .jobs.filelist import is_uri
from .jobs.spec import DEFAULT_PREFETCH, DEFAULT_ROWS
from .jobs.writers import csv_header, csv_row

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as a shell reports it
PROG = "nanocaption-desktop batch"

_EPILOG = """\
Outputs: --csv and --jsonl files (rewritten atomically as results come in; missing folders are
created), --sidecars writes photo.txt next to photo.jpg; when images of a folder share a name
up to the extension (photo.jpg, photo.png) each writes its full name plus .txt (photo.jpg.txt,
photo.png.txt), so no caption is lost. With no output option the CSV goes to standard output.
Refused before any work (exit code 2): an output with an image's name or content, two outputs
that are the same file, a symlink, FIFO, device or folder as --csv/--jsonl. A sidecar that is a
symlink or not a regular file is not written: that image fails with the reason.
A journal (FILE.journal.jsonl next to the CSV or JSONL) lets a re-run skip what is done.
--write-metadata writes each caption into its photo as alt text (see the README; a person's
description is kept unless --overwrite; a refused photo fails that image only).
--prefetch is how many images are decoded ahead of the model: captions never depend on the
other images of a batch, so it changes speed and memory, never a caption (--batch-size is its
old, deprecated name). --rows is how many images each lane decodes together, one pass over the
weights for all: each caption is still exactly the one the image gets alone (greedy captions;
with --beams above 1 images go one at a time).
Exit codes: 0 all ok, 1 some images failed, 2 usage/model/output error, 130 interrupted
(Ctrl+C), 143 terminated (SIGTERM). A second batch on the same outputs is refused (exit 2).
--files-from LIST captions the files LIST names (one per line; CSV/JSONL paths relative to
the folder holding LIST's folder and every listed file); a missing file fails its line only.
--ray runs the same batch on a Ray cluster (docs/scale.md): the same outputs and journal; DIR
or LIST's lines may then be s3://, gs:// or file:// URIs (CSV/JSONL and journal stay here)."""


def positive_int(text: str) -> int:
    """argparse type: a whole number of 1 or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more: {text!r}")
    return value


def positive_int_up_to(limit: int, name: str) -> Callable[[str], int]:
    """argparse type: a whole number from 1 to ``limit`` (``name``: the limit's name, from
    engine/limits.py), so a usage error says the limit."""

    def parse(text: str) -> int:
        value = positive_int(text)
        if value > limit:
            raise argparse.ArgumentTypeError(f"must be at most {limit} ({name}): {text!r}")
        return value

    return parse


BEAMS = positive_int_up_to(MAX_BEAMS, "MAX_BEAMS")


def megapixels(text: str) -> float:
    """argparse type of ``--max-megapixels``: a number in the range engine/limits.py allows."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not MIN_MEGAPIXELS <= value <= MAX_MEGAPIXELS:
        raise argparse.ArgumentTypeError(
            f"must be a number from {MIN_MEGAPIXELS:g} to {MAX_MEGAPIXELS:g}: {text!r}"
        )
    return value


MEGAPIXELS_HELP = (
    f"largest image to read, in megapixels (default {DEFAULT_MAX_MEGAPIXELS:g}; a large JPEG "
    "is read at a reduced scale and counts at that size)"
)
MAX_TOKENS = positive_int_up_to(MAX_NEW_TOKENS, "MAX_NEW_TOKENS")
ROWS = positive_int_up_to(MAX_ROWS, "MAX_ROWS")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``batch`` to an ``argparse`` subparsers object; returns the new parser."""
    p = subparsers.add_parser(
        "batch",
        help="caption every image in a folder",
        description="Caption every image in DIR and write CSV, JSON Lines and/or .txt sidecars.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cli_inputs.add_options(p)  # DIR, --files-from, --recursive
    p.add_argument("--csv", metavar="FILE", help="write path,caption,score,status,error")
    p.add_argument("--jsonl", metavar="FILE", help="write one JSON object per image")
    p.add_argument(
        "--sidecars",
        choices=[x.value for x in SidecarPolicy],
        metavar="{skip,overwrite,append}",
        help="write photo.txt next to photo.jpg; existing ones: skip (default), overwrite, append",
    )
    p.add_argument(
        "--resume",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="skip images done in an earlier run of this batch and unchanged (default: on)",
    )
    p.add_argument(
        "--retry-failed",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="when resuming, redo images that failed before (default: on)",
    )
    p.add_argument(
        "--prefetch",
        type=positive_int,
        default=DEFAULT_PREFETCH,
        metavar="N",
        help=f"images decoded ahead of the model (default {DEFAULT_PREFETCH})",
    )
    p.add_argument(  # the old name of --prefetch: same effect, a note on stderr
        "--batch-size",
        type=positive_int,
        dest="prefetch",
        action=_DeprecatedAlias,
        metavar="N",
        help="deprecated: the old name of --prefetch",
    )
    p.add_argument(
        "--rows",
        type=ROWS,
        default=DEFAULT_ROWS,
        metavar="N",
        help=f"images decoded together, 1 to {MAX_ROWS} (default {DEFAULT_ROWS}); "
        "never changes a caption",
    )
    p.add_argument("--beams", type=BEAMS, metavar="N", help="beam search width")
    p.add_argument("--max-tokens", type=MAX_TOKENS, metavar="N", help="most new tokens per caption")
    p.add_argument(
        "--model", metavar="NAME|DIR", help="model name or folder (default: installed model)"
    )
    p.add_argument("--max-megapixels", type=megapixels, metavar="MP", help=MEGAPIXELS_HELP)
    p.add_argument(
        "--isolate",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="decode images in a worker process, so a decoder crash or hang costs one file "
        "(default: on)",
    )
    cli_write.add_options(p, flag="--write-metadata")
    from .cli_scale import add_options

    add_options(p)  # --ray, --ray-ship-model
    p.set_defaults(handler=run)
    return p


class _DeprecatedAlias(argparse.Action):
    """Stores like the option it stands for, and says once on stderr to use that one."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option: Any = None) -> None:
        print(f"{PROG}: {option} is deprecated, use --prefetch (same effect)", file=sys.stderr)
        setattr(namespace, self.dest, values)


def spec_from_args(args: argparse.Namespace) -> BatchSpec:
    """The ``BatchSpec`` a parsed ``batch`` command line asks for (``--files-from``: its list
    read, ``ValueError``/``OSError`` naming it when it cannot be)."""
    folder, files = cli_inputs.inputs_of(args)
    return BatchSpec(
        folder,
        files=files,
        recursive=args.recursive,
        csv=args.csv,
        jsonl=args.jsonl,
        sidecars=args.sidecars,
        resume=args.resume,
        retry_failed=args.retry_failed,
        beams=args.beams,
        max_new_tokens=args.max_tokens,
        prefetch=args.prefetch,
        rows=args.rows,
        isolate=args.isolate,
        model=args.model,
        **cli_write.spec_fields(args),
    )


class _Interrupt:
    """A signal (Ctrl+C, SIGTERM, SIGHUP) while the batch runs sets the cancel flag: the batch
    stops between images or decoding steps and writes what finished. Before it runs (model load,
    nothing done yet) and on a second signal it stops at once: the main thread may be blocked
    in a call that Python restarts after the handler returns (PEP 475), where a flag alone is
    never looked at."""

    def __init__(self) -> None:
        self.cancel = threading.Event()
        self.signum: int | None = None
        self.graceful = False  # set once the batch checks the cancel flag

    def __call__(self, signum: int, frame: Any) -> None:
        self.signum = signum
        if not self.graceful or self.cancel.is_set():
            raise KeyboardInterrupt
        self.cancel.set()

    @contextmanager
    def graceful_while(self) -> Iterator[None]:
        """While the batch runs (it checks the cancel flag) a first signal cancels it."""
        self.graceful = True
        try:
            yield
        finally:
            self.graceful = False

    def exit_code(self) -> int:
        sig = self.signum or signal.SIGINT
        return EXIT_INTERRUPTED if sig == signal.SIGINT else 128 + int(sig)

    def stopped_by(self) -> str:
        sig = self.signum or signal.SIGINT
        return "interrupted" if sig == signal.SIGINT else f"stopped by {signal.Signals(sig).name}"


@contextmanager
def _signals(handler: _Interrupt) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {}
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is not None and signal.getsignal(sig) is not signal.SIG_IGN:  # nohup, `cmd &`
            old[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, prev in old.items():
            signal.signal(sig, prev)


def run(args: argparse.Namespace) -> int:
    """Run ``batch`` with parsed ``args``; returns the exit code."""
    interrupt = _Interrupt()
    with _signals(interrupt):  # before the model load and the journal open: both can block
        return _run(args, interrupt)


def _run(args: argparse.Namespace, interrupt: _Interrupt) -> int:
    err = sys.stderr
    tty = err.isatty()
    bar = _Bar(err, tty)
    to_stdout = not (args.csv or args.jsonl or args.sidecars or args.write_metadata)
    failed = total = 0
    last: BatchProgress | None = None
    try:
        folder = args.folder
        if folder is not None and not is_uri(folder) and not os.path.isdir(folder):
            raise FileNotFoundError(f"{folder}: no such folder")
        if cli_write.usage_problem(args, "--write-metadata"):
            raise ValueError(cli_write.usage_problem(args, "--write-metadata"))
        # outputs that may not be written are refused before the model loads (exit code 2)
        spec = checked_spec(spec_from_args(args), remote=bool(args.ray))
        if args.ray:
            from .cli_scale import results as ray_results

            results = ray_results(spec, args, interrupt.cancel)
        else:
            captioner = _load_captioner(spec, getattr(args, "max_megapixels", None))
            results = caption_folder(spec, captioner=captioner, cancel=interrupt.cancel)
        if to_stdout:
            _write_stdout(csv_header())
        with interrupt.graceful_while():
            for result in results:
                total += 1
                failed += not result.ok
                last = result.progress
                if not result.ok and not result.resumed:
                    if tty:
                        bar.message(f"failed: {result.relpath}: {result.error}")
                    else:  # cron, CI, a log file: one plain line per failed file
                        print(f"{PROG}: {result.path}: {result.error}", file=err, flush=True)
                if to_stdout:
                    _print_row(result)
                if last is not None:
                    bar.update(last)
    except BrokenPipeError:  # stdout closed early (| head): stop quietly
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        bar.clear()
        print(f"{PROG}: {interrupt.stopped_by()}", file=err)
        return interrupt.exit_code()
    except (OSError, ValueError, NanoCaptionError) as e:
        bar.clear()
        print(f"{PROG}: {e}", file=err)
        return EXIT_ERROR
    bar.clear()
    if interrupt.cancel.is_set():
        print(f"{PROG}: cancelled; {total} finished results written", file=err)
        return interrupt.exit_code()
    print(_summary(last, total, failed, args), file=err)  # on a terminal or not (cron, CI)
    return EXIT_FAILED if failed else EXIT_OK


def _load_captioner(spec: BatchSpec, max_megapixels: float | None = None) -> Any:
    from .jobs import folder_captioner

    return folder_captioner(spec, max_megapixels=max_megapixels)


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _print_row(result: BatchResult) -> None:
    _write_stdout(csv_row(result.row()))


def _write_stdout(data: bytes) -> None:
    """UTF-8 bytes as they are, whatever the console's encoding."""
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:
        sys.stdout.write(data.decode("utf-8"))
    else:
        sys.stdout.flush()
        buffer.write(data)
        buffer.flush()


def _summary(p: BatchProgress | None, total: int, failed: int, args: argparse.Namespace) -> str:
    if p is None:
        return "no images found"
    parts = [f"{total} images: {p.captioned} captioned"]
    if p.skipped:
        parts.append(f"{p.skipped} done earlier")
    parts.append(f"{failed} failed")
    text = ", ".join(parts) + f" in {_clock(p.elapsed)}"
    if p.rate:
        text += f" ({p.rate:.2f} img/s)"
    outs = [x for x in (args.csv, args.jsonl) if x]
    outs += [".txt sidecars"] * bool(args.sidecars) + ["alt text in the photos"] * bool(
        getattr(args, "write_metadata", False)
    )
    return text + (" -> " + ", ".join(outs) if outs else "")


def main(argv: list[str] | None = None) -> int:
    """``python -m nanocaption_desktop.cli_batch DIR ...``: the subcommand on its own."""
    parser = argparse.ArgumentParser(prog="nanocaption-desktop")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["batch", *(sys.argv[1:] if argv is None else argv)])
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
