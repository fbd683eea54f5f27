"""The ``models path|verify|fetch|import|list|use|remove`` commands as plain functions returning
``(exit code, text)``.

They sit above the engine and the model store (docs/architecture.md): ``verify`` combines the
model store's file checks (structure, safety, manifest hashes) with the engine's load checks
(configs, tokenizer, values, derived copies), which the model store cannot import.

Exit codes follow the CLI: 0 ok, 2 model error. The CLI prints ``text`` to stdout when the code is
0 and to stderr otherwise. Only ``cmd_fetch`` writes while it runs (progress, to ``stream``).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, TextIO

from .engine.loadcheck import load_problems
from .ground.errors import Cancelled, ModelError
from .modelstore.fetch import fetch
from .modelstore.locate import bundle_problems, candidate_dirs, find_bundle
from .modelstore.manifest import MANIFEST_NAME, check_bundle
from .modelstore.registry import DEFAULT_BUNDLE
from .modelstore.trust import forget_verified

__all__ = [
    "MANAGE",
    "add_manage_commands",
    "cmd_fetch",
    "cmd_import",
    "cmd_list",
    "cmd_manage",
    "cmd_path",
    "cmd_remove",
    "cmd_use",
    "cmd_verify",
]

OK, MODEL_ERROR = 0, 2
NOT_FOUND = "no model bundle found; install one with: nanocaption-desktop models fetch"
StrPath = str | os.PathLike[str]


def _searched(explicit: StrPath | None) -> str:
    lines = ["searched, in order:"]
    for label, folder in candidate_dirs(explicit):
        problems = bundle_problems(folder)
        state = "bundle" if not problems else problems[0]
        lines.append(f"  {label:<22} {folder}  ({state})")
    return "\n".join(lines)


def cmd_path(explicit: StrPath | None = None) -> tuple[int, str]:
    """First line: the bundle the app would use; then every place searched."""
    try:
        found = find_bundle(explicit)
    except ModelError as e:
        return MODEL_ERROR, f"{e}\n{_searched(explicit)}"
    if found is None:
        return MODEL_ERROR, (NOT_FOUND + "\n" + _searched(explicit))
    return OK, f"{found}\n{_searched(explicit)}"


def cmd_verify(explicit: StrPath | None = None) -> tuple[int, str]:
    """Check the bundle the app would use as a load checks it (structure, safety, files against
    the manifest, JSON values, tokenizer) and its derived copies against their manifests. A
    problem also forgets what was remembered about the bundle (the next load hashes again)."""
    try:
        found = find_bundle(explicit)
    except ModelError as e:
        return MODEL_ERROR, str(e)
    if found is None:
        return MODEL_ERROR, NOT_FOUND
    problems = check_bundle(found) + load_problems(found)
    if problems:
        forget_verified(found)
        listing = "\n".join(f"  {p}" for p in problems)
        return MODEL_ERROR, f"{found}: {len(problems)} problem(s):\n{listing}"
    if not (found / MANIFEST_NAME).exists():
        return OK, (
            f"{found}: structure OK, no unsafe files, the configs and tokenizer load; no "
            f"{MANIFEST_NAME}, so sizes and SHA-256 were not checked (the bundle was not "
            "installed by models fetch)"
        )
    return OK, f"{found}: OK (every file matches {MANIFEST_NAME}, derived copies theirs)"


class _ProgressPrinter:
    """One line per file; updated in place on a terminal, printed when done elsewhere."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.last: tuple[str, int] = ("", -1)

    def __call__(self, done: int, total: int | None, name: str) -> None:
        percent = int(done * 100 / total) if total else -1
        if (name, percent) == self.last and done != total:
            return
        self.last = (name, percent)
        size = f"{done / 1e6:.1f}" + (f" / {total / 1e6:.1f} MB" if total else " MB")
        line = f"{name}  {size}" + (f"  {percent}%" if percent >= 0 else "")
        if self.tty:
            self.stream.write(f"\r{line}\x1b[K" + ("\n" if total and done >= total else ""))
            self.stream.flush()
        elif total and done >= total:
            self.stream.write(line + "\n")


def cmd_fetch(
    name: str = DEFAULT_BUNDLE,
    *,
    dest: StrPath | None = None,
    stream: TextIO | None = sys.stderr,
    base_url: str | None = None,
    force: bool = False,
) -> tuple[int, str]:
    """Download ``name`` with progress on ``stream`` (None: quiet); text names the folder."""
    progress = _ProgressPrinter(stream) if stream is not None else None
    try:
        path = fetch(name, dest=dest, progress=progress, base_url=base_url, force=force)
    except (ModelError, Cancelled) as e:
        return MODEL_ERROR, str(e)
    except OSError as e:  # a local disk problem (full disk, permissions)
        where = e.filename or (Path(dest) if dest is not None else "the models folder")
        return MODEL_ERROR, f"{where}: cannot write the model ({e.strerror or e})"
    return OK, f"{name} installed in {path}"


# ------------------------------------------------------ import, list, use, remove (issue 17)
MANAGE = ("import", "list", "use", "remove")
KINDS = {"onnx": "an ONNX export", "checkpoint": "a checkpoint, exported with Optimum"}


def add_manage_commands(msub: Any) -> None:
    """The ``models import|list|use|remove`` subcommands (cli.py's ``models`` parser)."""
    i = msub.add_parser("import", help="install your own ONNX export or checkpoint folder")
    i.add_argument("path", metavar="PATH", help="an Optimum/transformers.js export or checkpoint")
    i.add_argument("--name", help="the model's name (default: the folder's name)")
    i.add_argument(
        "--quantize",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="make fp32 graphs INT8 like the published files (default: yes)",
    )
    msub.add_parser("list", help="the installed models (* the one used by default)")
    msub.add_parser("use", help="make NAME the default model").add_argument("name")
    msub.add_parser("remove", help="delete an installed model").add_argument("name")


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def cmd_import(
    path: StrPath, *, name: str | None = None, quantize: bool = True, stream: TextIO | None = None
) -> tuple[int, str]:
    from .engine.importer import import_model

    if stream is not None:
        stream.write(f"importing {path}…\n")
        stream.flush()
    try:
        r = import_model(path, name=name, quantize=quantize)
    except ModelError as e:
        return MODEL_ERROR, f"{e} (nothing was installed)"
    except OSError as e:
        return MODEL_ERROR, f"{e.filename or path}: cannot import ({e.strerror or e})"
    quant = r.quantization + (" (quantized now)" if r.quantized_here else "")
    derived = ", ".join(r.derived) if r.derived else "none"
    lines = [
        f"{r.name} installed in {r.path}",
        f"  {quant}; {_mb(r.size)}; {r.seconds:.1f} s; from {KINDS[r.source_kind]}",
        f"  optimized graphs derived: {derived}"
        + (f"; stock graph used for {', '.join(r.not_derived)}" if r.not_derived else ""),
        f"  use it with --model {r.name}, or by default: nanocaption-desktop models use {r.name}",
    ]
    return OK, "\n".join(lines)


def cmd_list() -> tuple[int, str]:
    from .modelstore.installed import list_models

    models = list_models()
    if not models:
        return OK, NOT_FOUND
    try:
        in_use = find_bundle()
    except ModelError:
        in_use = None
    width = max(len(m.name) for m in models)
    rows = [f"  {'NAME':<{width}}  {'SIZE':>9}  {'QUANTIZATION':<12}  SOURCE"]
    for m in models:
        mark = "*" if m.path == in_use else " "
        rows.append(f"{mark} {m.name:<{width}}  {_mb(m.size):>9}  {m.quantization:<12}  {m.source}")
    return OK, "\n".join(rows)


def cmd_use(name: str) -> tuple[int, str]:
    from .modelstore.installed import set_default_model

    try:
        set_default_model(name)
    except ModelError as e:
        return MODEL_ERROR, str(e)
    except OSError as e:
        return MODEL_ERROR, f"{e.filename}: cannot save the choice ({e.strerror or e})"
    return OK, f"{name} is now the default model (the CLI and the window)"


def cmd_remove(name: str) -> tuple[int, str]:
    from .modelstore.installed import remove_model

    try:
        path = remove_model(name)
    except ModelError as e:
        return MODEL_ERROR, str(e)
    except OSError as e:
        return MODEL_ERROR, f"{e.filename or name}: cannot remove ({e.strerror or e})"
    return OK, f"{name} removed ({path})"


def cmd_manage(args: argparse.Namespace) -> tuple[int, str]:
    """Run ``models import|list|use|remove`` from parsed arguments."""
    if args.models_command == "import":
        return cmd_import(args.path, name=args.name, quantize=args.quantize, stream=sys.stderr)
    if args.models_command == "list":
        return cmd_list()
    if args.models_command == "use":
        return cmd_use(args.name)
    return cmd_remove(args.name)
