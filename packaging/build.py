"""Build the single-file NanoCaption executable with a model bundle inside, and report its size.

    python packaging/build.py                                   # the checkout's models/vit-gpt2
    python packaging/build.py --model tests/fixtures/tiny-vit-gpt2   # the tiny test bundle
    python packaging/build.py --model DIR --model-beside        # exe + models/vit-gpt2 next to it

Needs PyInstaller (`pip install -e '.[build]'`). Writes `dist/nanocaption-desktop[.exe]`; work
files go to `build/pyinstaller/` (kept between runs: a rebuild with another model reuses the
analysis). The model folder is staged first with only the files the engine loads (INT8 encoder
and decoder, JSON files, tokenizer, the optimized copy when there is one) and a fresh
`manifest.json`, so `models verify` works inside the executable. Exit code 0 on success, 2 on a
refused build (a dev-only package would be inside, the model is not a bundle).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))  # the package, also when it is not installed

from bundle_rules import forbidden_in  # noqa: E402
from size_report import archive_listing, format_report  # noqa: E402

SPEC = HERE / "nanocaption_desktop.spec"
APP_NAME = "nanocaption-desktop"
ICON = ROOT / "assets" / "nanocaption.png"
EXTRA_BUNDLE_FILES = ("special_tokens_map.json", "tokenizer_config.json")
MTIMES = "mtimes.json"  # as entry.MTIMES: modification times that entry.py puts back


class BuildError(Exception):
    pass


def exe_name(name: str = APP_NAME) -> str:
    return f"{name}.exe" if sys.platform == "win32" else name


def stage_model(src: Path, dest: Path) -> Path:
    """Copy the files the engine uses from bundle ``src`` into ``dest``, then add what the
    executable needs: the optimized decoder pair and encoder (derived here, where ``onnx`` is
    installed, so that the executable needs no ``onnx``; the stock graphs are then left out),
    ``mtimes.json`` and a fresh ``manifest.json``.

    Unchanged files (same size and mtime) are not copied again.
    """
    from nanocaption_desktop.engine.bundle import JSON_FILES, Bundle
    from nanocaption_desktop.engine.errors import ModelError
    from nanocaption_desktop.modelstore.manifest import MANIFEST_NAME, write_manifest

    try:
        bundle = Bundle.open(src)
    except ModelError as e:
        raise BuildError(f"--model {src}: {e}") from e
    wanted = [src / n for n in (*JSON_FILES, *EXTRA_BUNDLE_FILES) if (src / n).is_file()]
    wanted += [bundle.encoder, bundle.decoder]
    graphs = (bundle.encoder, bundle.decoder)
    for graph in graphs:  # a copy derived before, if any
        optimized = src / "optimized" / graph.stem
        if optimized.is_dir():
            wanted += [
                p for p in sorted(optimized.iterdir()) if p.is_file() and not p.name.startswith(".")
            ]
    rels = {p.relative_to(src).as_posix() for p in wanted}
    # engine/derive checks a derived copy against its source
    keep_derived = tuple(f"optimized/{graph.stem}/" for graph in graphs)
    if dest.exists():  # drop what a previous build staged for another bundle
        for p in sorted(dest.rglob("*"), reverse=True):
            rel = p.relative_to(dest).as_posix()
            if p.is_file() and rel not in rels and not rel.startswith(keep_derived):
                p.unlink()
            elif p.is_dir() and not any(p.iterdir()):
                p.rmdir()
    for p in wanted:
        target = dest / p.relative_to(src)
        st = p.stat()
        if (
            target.is_file()
            and target.stat().st_size == st.st_size
            and target.stat().st_mtime_ns == st.st_mtime_ns
        ):
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(p, target)
    for graph in graphs:
        staged = dest / graph.relative_to(src)
        if _derive_optimized(staged):
            if graph == bundle.decoder:
                _derive_rows(staged)  # from the derived step graph, before the stock one goes
            # the executable runs the checked copy; the stock graph it was derived from would
            # only add its size (193 MB for the full INT8 decoder, 87 MB for the encoder) to
            # every launch's unpacking
            from nanocaption_desktop.engine.derive import mark_shipped_alone

            mark_shipped_alone(staged)
            staged.unlink()
            if not any(staged.parent.iterdir()):  # onnx/ with nothing left in it
                staged.parent.rmdir()
    files = sorted(
        p
        for p in dest.rglob("*")
        if p.is_file() and not p.name.startswith(".") and p.name not in (MANIFEST_NAME, MTIMES)
    )
    (dest / MTIMES).write_text(
        json.dumps({p.relative_to(dest).as_posix(): p.stat().st_mtime_ns for p in files}, indent=1)
        + "\n"
    )
    write_manifest(dest)
    return dest


def _derive_optimized(graph: Path) -> bool:
    """Derive (or check) the optimized copy beside the staged encoder or decoder graph
    (engine/derive); True when it is ready (and checked bit for bit against the stock graph)."""
    from nanocaption_desktop.engine.derive import derived_copy

    folder = derived_copy(graph)
    if folder is None:
        print(
            f"build.py: no optimized copy of {graph.name} (is `onnx` installed?); "
            "the executable will use the stock graph"
        )
        return False
    print(f"build.py: optimized {graph.name} ready: {folder}; the stock graph stays out")
    return True


def _derive_rows(decoder: Path) -> None:
    """Derive (or check) the rows graph beside the staged decoder's step graph (folder batches
    decode several images per weight pass on it, engine/rows.py), so that the executable,
    which cannot derive it (no ``onnx``), ships it too."""
    from nanocaption_desktop.engine.derive import derived_decoder, derived_rows

    dec = derived_decoder(decoder)
    rows = derived_rows(dec.step) if dec is not None else None
    if rows is None:
        print("build.py: no rows graph; the executable's folder batches decode one image a time")
    else:
        print(f"build.py: rows graph ready: {rows.step}")


def version_file(path: Path, version: str) -> Path:
    """A Windows version resource (PyInstaller's VSVersionInfo text); ignored elsewhere."""
    nums = [int(x) for x in version.split("+")[0].split(".")[:3] if x.isdigit()]
    nums = (nums + [0, 0, 0, 0])[:4]
    fields = {
        "CompanyName": "NanoCaption",
        "FileDescription": "NanoCaption Desktop: offline image captioning",
        "FileVersion": version,
        "InternalName": APP_NAME,
        "LegalCopyright": "Apache-2.0",
        "OriginalFilename": exe_name(),
        "ProductName": "NanoCaption Desktop",
        "ProductVersion": version,
    }
    strings = ",\n".join(f"          StringStruct({k!r}, {v!r})" for k, v in fields.items())
    path.write_text(
        f"""VSVersionInfo(
  ffi=FixedFileInfo(filevers={tuple(nums)}, prodvers={tuple(nums)}, mask=0x3f, flags=0x0,
                    OS=0x40004, fileType=0x1, subtype=0x0, date=(0, 0)),
  kids=[
    StringFileInfo([StringTable('040904B0', [
{strings}])]),
    VarFileInfo([VarStruct('Translation', [1033, 1200])])
  ]
)
""",
        encoding="utf-8",
    )
    return path


def run_pyinstaller(args: argparse.Namespace, work: Path, dist: Path, model: Path | None) -> None:
    from nanocaption_desktop import __version__

    cmd = [
        sys.executable,
        "-m",
        "PyInstaller",
        str(SPEC),
        "--noconfirm",
        "--distpath",
        str(dist),
        "--workpath",
        str(work / "pyi"),
        "--log-level",
        "INFO" if args.verbose else "WARN",
    ]
    if args.clean:
        cmd.append("--clean")
    cmd += ["--", "--name", args.name]
    cmd += ["--model", str(model)] if model is not None else ["--no-model"]
    if ICON.is_file() and sys.platform in ("win32", "darwin"):  # Linux executables have no icon
        cmd += ["--icon", str(ICON)]
    cmd += ["--version-file", str(version_file(work / "version_info.txt", __version__))]
    cmd += ["--compress", args.compress]
    if args.windowed:
        cmd.append("--windowed")
    print("+", " ".join(cmd), flush=True)
    env = {**os.environ, "PYTHONHASHSEED": "0"}  # reproducible archive order
    proc = subprocess.run(cmd, cwd=ROOT, env=env, check=False)
    if proc.returncode != 0:
        raise BuildError(f"PyInstaller failed (exit code {proc.returncode})")


def check_archive(exe: Path) -> list[tuple[str, int, int, str]]:
    """The archive listing; BuildError when a forbidden package made it in anyway."""
    listing = archive_listing(exe)
    bad = forbidden_in(name for name, *_ in listing)
    if bad:
        raise BuildError(f"{exe} contains dev-only packages: {', '.join(bad)}")
    return listing


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--model",
        default=str(ROOT / "models" / "vit-gpt2"),
        help="model bundle to ship (default: models/vit-gpt2 of the checkout)",
    )
    layout = ap.add_mutually_exclusive_group()
    layout.add_argument(
        "--model-beside",
        action="store_true",
        help="keep the model out of the executable, in models/vit-gpt2 next to it",
    )
    layout.add_argument(
        "--no-model", action="store_true", help="no model at all (users run `models fetch`)"
    )
    ap.add_argument("--dist", default=str(ROOT / "dist"), help="output folder (default dist/)")
    ap.add_argument(
        "--work",
        default=str(ROOT / "build" / "pyinstaller"),
        help="work folder (default build/pyinstaller/)",
    )
    ap.add_argument("--name", default=APP_NAME, help="executable name")
    ap.add_argument(
        "--compress",
        choices=("none", "code", "all"),
        default="none",
        help="what to zlib-compress inside the executable: nothing (the default, "
        "fastest start), code and libraries, or all (smallest, slowest start)",
    )
    ap.add_argument(
        "--windowed",
        action="store_true",
        help="Windows/macOS: no console window (the CLI commands then print nothing)",
    )
    ap.add_argument("--clean", action="store_true", help="redo the analysis from scratch")
    ap.add_argument("-v", "--verbose", action="store_true", help="PyInstaller's full log")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    work, dist = Path(args.work).resolve(), Path(args.dist).resolve()
    work.mkdir(parents=True, exist_ok=True)
    try:
        staged = None
        if not args.no_model:
            staged = stage_model(Path(args.model).resolve(), work / "model" / "vit-gpt2")
        run_pyinstaller(args, work, dist, None if args.model_beside else staged)
        exe = dist / exe_name(args.name)
        if not exe.is_file():
            raise BuildError(f"PyInstaller did not write {exe}")
        beside = dist / "models" / "vit-gpt2"
        if beside.exists():
            shutil.rmtree(beside)
        if args.model_beside and staged is not None:
            shutil.copytree(staged, beside)
        listing = check_archive(exe)
    except BuildError as e:
        print(f"build.py: {e}", file=sys.stderr)
        return 2
    print(
        format_report(
            exe,
            listing,
            beside if args.model_beside else None,
            platform_name=f"{platform.system()} {platform.machine()}",
        )
    )
    print(f"built in {time.perf_counter() - t0:.0f} s: {exe}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
