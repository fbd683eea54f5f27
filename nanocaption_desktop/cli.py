"""Command line: the window (no arguments, or files and folders to open in it), `caption`,
`batch`, `models`, `evaluate`, `metadata`, `--version`, `--self-test`.

Exit codes: 0 all ok, 1 some files failed, 2 usage or model error (130 on Ctrl+C in `batch`).
Results go to stdout, errors to stderr, each naming the file.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
from typing import Any

from . import __version__
from .cli_output import StdoutError, checked_streams, error, unchecked_stdout

PROG = "nanocaption-desktop"
OK, SOME_FAILED, USAGE_OR_MODEL = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # usage errors exit 2 (argparse's default too)
        self.print_usage(sys.stderr)
        self.exit(USAGE_OR_MODEL, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    from . import cli_batch, cli_evaluate, cli_metadata, cli_models, cli_write
    from .cli_batch import BEAMS, MAX_TOKENS, MEGAPIXELS_HELP, megapixels

    p = _Parser(prog=PROG, description="Offline image captioning. With no command: the window.")
    p.add_argument("--version", action="store_true", help="print versions and exit")
    p.add_argument(
        "--licenses", action="store_true", help="print the bundled libraries' licences and exit"
    )
    p.add_argument(
        "--self-test",
        action="store_true",
        help="load the model, caption a built-in image, print a ready line, exit",
    )
    p.add_argument(
        "--model",
        metavar="NAME|DIR",
        dest="global_model",
        help="model name (models list) or folder (default: installed model)",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log more to stderr")
    _add_window_options(p, dest_prefix="global_")
    sub = p.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")

    g = sub.add_parser(
        "gui",
        help="open the window (the default; `%(prog)s FILE|FOLDER ...` opens them in it)",
    )
    g.add_argument("files", nargs="*", metavar="FILE", help="images or folders to open")
    g.add_argument("--model", metavar="NAME|DIR", help="model name or folder (default: installed)")
    _add_window_options(g, dest_prefix="")
    g.set_defaults(handler=_cmd_gui)

    c = sub.add_parser("caption", help="caption image files")
    c.add_argument("files", nargs="+", metavar="FILE")
    c.add_argument("--beams", type=BEAMS, metavar="N", help="beam search width (1: greedy)")
    c.add_argument("--max-tokens", type=MAX_TOKENS, metavar="N", help="most new tokens")
    c.add_argument("--json", action="store_true", help="one JSON object per image")
    c.add_argument("--model", metavar="NAME|DIR", help="model name or folder (default: installed)")
    c.add_argument("--max-megapixels", type=megapixels, metavar="MP", help=MEGAPIXELS_HELP)
    cli_write.add_options(c, flag="--write")
    c.set_defaults(handler=_cmd_caption)

    cli_batch.add_parser(sub)
    cli_evaluate.add_parser(sub)
    cli_metadata.add_parser(sub, _Parser)

    m = sub.add_parser("models", help="find, check or download model bundles")
    msub = m.add_subparsers(
        dest="models_command",
        required=True,
        parser_class=_Parser,
        metavar="{fetch,path,verify,import,list,use,remove}",
    )
    f = msub.add_parser("fetch", help="download a model bundle (default vit-gpt2)")
    f.add_argument("name", nargs="?", default="vit-gpt2")
    f.add_argument("--dest", metavar="DIR", help="install folder (default: user data dir)")
    f.add_argument("--force", action="store_true", help="download again even if installed")
    for name, text in (
        ("path", "print the bundle the app would use, and where it looked"),
        ("verify", "check the bundle as a load does, its files against its manifest"),
    ):  # --model before `models` (the global option) or after the subcommand
        msub.add_parser(name, help=text).add_argument(
            "--model", metavar="NAME|DIR", default=argparse.SUPPRESS, help="model name or folder"
        )
    cli_models.add_manage_commands(msub)
    m.set_defaults(handler=_cmd_models)
    return p


def _add_window_options(parser: argparse.ArgumentParser, *, dest_prefix: str) -> None:
    """The window's start options, before `gui` or after it (README: Start options)."""
    parser.add_argument(
        "--appearance",
        choices=("system", "light", "dark"),
        dest=dest_prefix + "appearance",
        help="the window's colours (default: the setting, or the system's)",
    )
    parser.add_argument(
        "--quit-after-ready",
        action="store_true",
        dest=dest_prefix + "quit_after_ready",
        help="quit once the window is shown (smoke tests; NANOCAPTION_QUIT_AFTER_READY=model "
        "waits for the model first)",
    )


def window_argv(
    argv: list[str], commands: frozenset[str], takes_value: frozenset[str] = frozenset()
) -> list[str]:
    """``argv`` with ``gui`` inserted when its first positional argument is an existing file or
    folder that is no command name (``nanocaption-desktop photo.jpg folder/``, as a desktop
    entry's ``%F`` passes them). A command name always wins: a file named ``caption`` opens with
    ``./caption`` or ``gui caption``. ``takes_value``: the options before it that take one."""
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            return [*argv[:i], "gui", *argv[i:]] if i + 1 < len(argv) else argv
        if arg.startswith("-"):
            i += 2 if arg in takes_value else 1
            continue
        if arg in commands or not os.path.exists(arg):
            return argv  # a command, or a typo argparse names
        return [*argv[:i], "gui", *argv[i:]]
    return argv


def _command_names(parser: argparse.ArgumentParser) -> tuple[frozenset[str], frozenset[str]]:
    """The commands and the top-level options that take a value (argparse keeps both only in
    its actions)."""
    commands: frozenset[str] = frozenset()
    valued: set[str] = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            commands = frozenset(action.choices)
        elif action.option_strings and action.nargs != 0:
            valued.update(action.option_strings)
    return commands, frozenset(valued)


def _load(args: argparse.Namespace) -> Any:
    from .engine import Captioner

    return Captioner.load(args.model, max_megapixels=getattr(args, "max_megapixels", None))


def _cmd_caption(args: argparse.Namespace) -> int:
    """Caption each file; images are decoded in a worker process (engine/isolation.py), as in
    `batch` and the window, so a hostile file costs one failed line, never the command."""
    from .cli_write import usage_problem, write_caption
    from .engine import ModelError, RequestError
    from .engine.isolation import DecodePool

    problem = usage_problem(args, "--write")
    if problem:
        error(f"{PROG} caption: {problem}")
        return USAGE_OR_MODEL
    pool = _early_pool(args.model)  # its process starts while the model loads
    try:
        captioner = _load(args)
        captioner.settings.override(beams=args.beams, max_new_tokens=args.max_tokens)
    except (ModelError, RequestError) as e:
        if pool is not None:
            pool.close()
        error(f"{PROG}: {e}")
        return USAGE_OR_MODEL
    if pool is None or (pool.config, pool.max_megapixels) != (
        captioner.preprocess_config,
        captioner.max_megapixels,
    ):
        if pool is not None:
            pool.close()
        pool = DecodePool(
            captioner.preprocess_config, workers=1, max_megapixels=captioner.max_megapixels
        )
    failed = 0
    with pool:
        captions = captioner.caption_many(
            args.files, beams=args.beams, max_new_tokens=args.max_tokens, preparer=pool.prepare
        )
        for cap in captions:
            if not cap.ok:
                failed += 1
                error(f"{PROG}: {cap.source}: {cap.error}")
            row = _json_row(cap, captioner.model_name)
            if args.write_metadata and cap.ok:  # the caption into the photo: alt text
                row["alt_text"] = write_caption(args, cap.source, cap.text)
                failed += "error" in row["alt_text"]
            if args.json:
                print(json.dumps(row, ensure_ascii=False))
            elif cap.ok:
                print(f"{cap.source}\t{cap.text}" if len(args.files) > 1 else cap.text)
            sys.stdout.flush()
    return SOME_FAILED if failed else OK


def _early_pool(model: str | None) -> Any:
    """A decode pool for the bundle's preprocessing, started before the model loads, so that
    starting its process (~0.27 s) overlaps the load. Measured, tiny model, one image, median
    of 11 on a busy 2-core machine: 0.33 s decoded in-process, 0.46 s isolated. None when the
    bundle cannot be read yet (the load then says why)."""
    try:
        from .engine.bundle import Bundle
        from .engine.isolation import DecodePool
        from .engine.preprocess import PreprocessConfig
        from .modelstore.locate import find_bundle

        path = find_bundle(model)
        if path is None:
            return None
        config = PreprocessConfig.from_dict(Bundle.open(path).preprocessor_config)
        return DecodePool(config, workers=1)
    except Exception:  # noqa: BLE001 - only a head start; Captioner.load reports the problem
        return None


def _json_row(cap: Any, model: str) -> dict[str, Any]:
    return {
        "path": cap.source,
        "caption": cap.text if cap.ok else None,
        "score": None if math.isnan(cap.score) else round(cap.score, 6),
        "seconds": round(cap.seconds, 4),
        "token_ids": list(cap.token_ids),
        "status": "ok" if cap.ok else "failed",
        "error": cap.error,
        "model": model,
    }


def _cmd_models(args: argparse.Namespace) -> int:
    from .cli_models import MANAGE, cmd_fetch, cmd_manage, cmd_path, cmd_verify

    if args.models_command in MANAGE:
        code, text = cmd_manage(args)
    elif args.models_command == "fetch":
        code, text = cmd_fetch(args.name, dest=args.dest, force=args.force)
        if code == OK:
            _optimize_installed(args)
    elif args.models_command == "path":
        code, text = cmd_path(args.model)
    else:
        code, text = cmd_verify(args.model)
    print(text if code == OK else f"{PROG}: {text}", file=sys.stdout if code == OK else sys.stderr)
    return code


def _optimize_installed(args: argparse.Namespace) -> None:
    """Derive the optimized decoder pair and encoder now (~6 s) rather than on the first launch."""
    from .engine import NanoCaptionError
    from .engine.bundle import Bundle
    from .engine.derive import derived_copy
    from .modelstore import default_install_dir

    try:
        bundle = Bundle.open(args.dest or default_install_dir(args.name))
        print("optimizing the model for this machine…", file=sys.stderr, flush=True)
        for graph in (bundle.encoder, bundle.decoder):
            if derived_copy(graph) is None:
                print(
                    f"({graph.name} not optimized: its stock graph will be used)", file=sys.stderr
                )
    except NanoCaptionError as e:  # the install itself succeeded; the engine derives later
        logging.getLogger(__name__).warning("could not optimize the model now: %s", e)


def _self_test(args: argparse.Namespace) -> int:
    """Caption a built-in picture with the model the app would use; for smoke tests and users."""
    import time

    import numpy as np
    from PIL import Image

    from .engine import NanoCaptionError

    t0 = time.perf_counter()
    try:
        captioner = _load(args)
        y, x = np.mgrid[0:96, 0:128]
        picture = Image.fromarray(np.stack([x * 2, y * 2, x + y], -1).astype(np.uint8))
        cap = captioner.caption(picture)
    except NanoCaptionError as e:
        error(f"{PROG}: self-test failed: {e}")
        return USAGE_OR_MODEL
    print(
        f"NanoCaption self-test OK: model {captioner.model_name} at {captioner.bundle.path}, "
        f"caption {cap.text!r} ({len(cap.token_ids) - 1} tokens) in "
        f"{time.perf_counter() - t0:.2f} s",
        flush=True,
    )
    return OK


def _cmd_gui(args: argparse.Namespace) -> int:
    if sys.platform == "win32":  # onnxruntime before Qt: the DLL load order matters there
        import onnxruntime  # noqa: F401

    from .gui.app import run

    files = [os.path.abspath(f) for f in getattr(args, "files", [])]
    appearance = getattr(args, "appearance", None) or args.global_appearance
    quit_after = getattr(args, "quit_after_ready", False) or args.global_quit_after_ready
    with unchecked_stdout():  # the window writes no results
        return int(
            run(
                [sys.argv[0], *files],
                model_dir=args.model,
                appearance=appearance,
                quit_after="1" if quit_after else None,
            )
        )


def _versions() -> str:
    import platform

    lines = [f"{PROG} {__version__}", f"Python {platform.python_version()}"]
    for mod in ("onnxruntime", "numpy", "PIL", "tokenizers", "PySide6"):
        try:
            lines.append(f"{mod} {__import__(mod).__version__}")
        except Exception:  # an absent optional part must not break --version
            lines.append(f"{mod} not available")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code. Output that cannot be written (standard
    output closed, a full disk) is a one-line error and a non-zero code (cli_output.py)."""
    import multiprocessing

    multiprocessing.freeze_support()  # the image decoders run in spawned worker processes
    with checked_streams() as streams:
        try:
            code = _run(argv)
        except SystemExit as e:  # argparse: --help, usage errors
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
        except KeyboardInterrupt:
            error(f"{PROG}: interrupted")
            code = 130
        except BrokenPipeError:  # `... | head`: the reader has all it wanted
            code = 141
        except StdoutError as e:
            error(f"{PROG}: {e}")
            code = USAGE_OR_MODEL
        return streams.finish(code)


def _licenses() -> str:
    """The notice of the bundled libraries (LGPL ones named, with their sources) and where the
    full texts are: ``licenses/`` inside the executable or the checkout."""
    from .ground.paths import resource_path

    folder = resource_path("licenses")
    notice = folder / "NOTICE.txt"
    if not notice.is_file():  # a pip install: each package carries its own licence files
        return "Each installed package carries its licence: pip show -f PACKAGE (dist-info)."
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    return notice.read_text(encoding="utf-8") + f"\nFull texts in {folder}: {', '.join(files)}"


def _run(argv: list[str] | None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(window_argv(argv, *_command_names(parser)))
    if getattr(args, "model", None) is None:  # a subcommand's --model wins over the global one
        args.model = args.global_model
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if args.version:
        print(_versions())
        return OK
    if args.licenses:
        print(_licenses())
        return OK
    if args.self_test:
        return _self_test(args)
    handler = getattr(args, "handler", _cmd_gui)
    return int(handler(args))
