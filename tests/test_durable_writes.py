"""Every replaced file goes through `ground.durable`: written to a temp file, fsync'd, renamed,
the folder fsync'd. An AST scan finds any other rename; the fsync tests record, for each
`os.replace`, whether the file being moved was fsync'd first (each failed on the old code for
the writers that never fsync'd: the derived copies' manifest and files)."""

from __future__ import annotations

import ast
import json
import os
import stat
from pathlib import Path

import pytest
from test_architecture import PACKAGE, PACKAGE_DIR, module_files

from nanocaption_desktop.ground import durable

#: The one module that may call os.replace / os.rename / Path.replace / Path.rename / shutil.move.
DURABLE = f"{PACKAGE}.ground.durable"

#: Where a finished file or folder is moved into place with `durable.rename` (fsync'd file or
#: folder, rename, both folders fsync'd) rather than written by `write_atomically`. Each entry
#: is (module, function): a rename that is not a write of new content.
RENAME_ALLOWED = {
    # a downloaded file, checked (size, SHA-256), renamed from <file>.part to <file> in staging;
    # and back to .part when an earlier run's file is to be checked again
    (f"{PACKAGE}.modelstore.fetch", "_fetch_one"),
    # the finished staging folder moved into place (and an old install moved aside, or back)
    (f"{PACKAGE}.modelstore.fetch", "_install"),
    # an imported model's finished staging folder moved into place (models import)
    (f"{PACKAGE}.modelstore.importing", "install_staged"),
    # a removed model moved aside in one rename before it is deleted (models remove)
    (f"{PACKAGE}.modelstore.installed", "remove_model"),
    # derived graphs written by onnx.save in a temp folder, moved beside their manifest
    (f"{PACKAGE}.engine.derive.cache", "_derive"),
    # a model shipped to a Ray node: its files written and SHA-256-checked in a staging folder,
    # the folder moved into the node's cache
    (f"{PACKAGE}.scale.shipping", "materialise"),
}


def _renames(tree: ast.AST) -> list[tuple[int, str, str]]:
    """(line, enclosing function, what) for every rename-like call in ``tree``."""
    found: list[tuple[int, str, str]] = []

    def visit(node: ast.AST, func: str) -> None:
        for child in ast.iter_child_nodes(node):
            name = (
                child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else func
            )
            if isinstance(child, ast.Call) and isinstance(child.func, ast.Attribute):
                attr, owner = child.func.attr, child.func.value
                owner_name = owner.id if isinstance(owner, ast.Name) else ""
                one_arg = len(child.args) == 1 and not child.keywords  # str.replace takes two
                if owner_name in ("os", "shutil") and attr in ("replace", "rename", "move"):
                    found.append((child.lineno, name, f"{owner_name}.{attr}"))
                elif attr in ("replace", "rename") and one_arg and owner_name != "durable":
                    found.append((child.lineno, name, f"Path.{attr}"))
                elif owner_name == "durable" and attr == "rename":
                    found.append((child.lineno, name, "durable.rename"))
            visit(child, name)

    visit(tree, "")
    return found


def test_only_ground_durable_renames_files():
    problems = []
    for module, path in module_files(PACKAGE_DIR, PACKAGE).items():
        if module == DURABLE:
            continue
        for line, func, what in _renames(ast.parse(path.read_text(encoding="utf-8"))):
            where = f"{path.relative_to(PACKAGE_DIR.parent)}:{line}"
            if what == "durable.rename":
                if (module, func) not in RENAME_ALLOWED:
                    problems.append(f"{where}: durable.rename in {func}, not in RENAME_ALLOWED")
            else:
                problems.append(f"{where}: {what}; use ground.durable.write_atomically")
    assert problems == []


def test_the_scan_finds_each_kind_of_rename():
    code = (
        "import os, shutil\n"
        "def f(p, q):\n"
        "    os.replace(p, q)\n"
        "    p.replace(q)\n"
        "    p.rename(q)\n"
        "    shutil.move(p, q)\n"
        "    durable.rename(p, q)\n"
        "    'a-b'.replace('-', '_')\n"
    )
    assert [what for _, _, what in _renames(ast.parse(code))] == [
        "os.replace",
        "Path.replace",
        "Path.rename",
        "shutil.move",
        "durable.rename",
    ]


@pytest.fixture
def fsync_log(monkeypatch):
    """Records (device, inode) of every fsync'd file, and for every os.replace whether the moved
    file (not a folder) had been fsync'd before it."""
    synced: set[tuple[int, int]] = set()
    replaces: list[tuple[str, bool]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        st = os.fstat(fd)
        synced.add((st.st_dev, st.st_ino))
        real_fsync(fd)

    def replace(src, dst, **kw):
        st = os.lstat(src)
        ok = stat.S_ISDIR(st.st_mode) or (st.st_dev, st.st_ino) in synced
        replaces.append((os.path.basename(dst), ok))
        real_replace(src, dst, **kw)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    return replaces


def test_write_atomically_fsyncs_before_the_rename_and_leaves_no_temp(tmp_path, fsync_log):
    target = tmp_path / "a.json"
    target.write_bytes(b"old")
    target.chmod(0o640)
    durable.write_atomically(target, [b"new ", b"content"])
    assert target.read_bytes() == b"new content"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert fsync_log == [("a.json", True)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


def test_write_atomically_never_writes_through_a_symlink(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_bytes(b"keep")
    (tmp_path / "out").symlink_to(elsewhere)
    durable.write_atomically(tmp_path / "out", b"new")
    assert elsewhere.read_bytes() == b"keep"
    assert not (tmp_path / "out").is_symlink() and (tmp_path / "out").read_bytes() == b"new"


def test_write_atomically_removes_its_temp_when_the_data_fails(tmp_path):
    def chunks():
        yield b"part"
        raise OSError(28, "No space left on device")

    (tmp_path / "out").write_bytes(b"old")
    with pytest.raises(OSError, match="No space"):
        durable.write_atomically(tmp_path / "out", chunks())
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    assert (tmp_path / "out").read_bytes() == b"old"


def test_write_atomically_leaves_a_foreign_leftover_and_uses_another_name(tmp_path):
    target = tmp_path / "out"
    durable.temp_path(target).write_bytes(b"not ours")
    durable.write_atomically(target, b"x", foreign=lambda p: True)
    assert durable.temp_path(target).read_bytes() == b"not ours"
    assert target.read_bytes() == b"x"


def test_rename_fsyncs_a_finished_file_before_moving_it(tmp_path, fsync_log):
    part = tmp_path / "f.part"
    part.write_bytes(b"downloaded")
    durable.rename(part, tmp_path / "f")
    assert fsync_log == [("f", True)] and (tmp_path / "f").read_bytes() == b"downloaded"


def test_derived_copy_manifest_is_fsynced(tmp_path, fsync_log):
    from nanocaption_desktop.engine.derive.manifest import read_manifest, write_manifest

    write_manifest(tmp_path, {"format": 1})
    assert read_manifest(tmp_path) == {"format": 1}
    assert fsync_log == [("manifest.json", True)]  # old code: a plain write_text, no fsync
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]


def test_bundle_manifest_is_fsynced(tmp_path, fsync_log):
    from nanocaption_desktop.modelstore.manifest import write_manifest

    (tmp_path / "config.json").write_text("{}")
    write_manifest(tmp_path)
    assert fsync_log == [("manifest.json", True)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "manifest.json"]


def test_remembered_checks_are_fsynced(tmp_path, monkeypatch, fsync_log):
    from nanocaption_desktop.modelstore import stamps

    monkeypatch.setenv("NANOCAPTION_DATA_DIR", str(tmp_path))
    stamps.remember("k", "v")
    assert stamps.recall("k") == "v"
    assert fsync_log == [("verified-bundles.json", True)]


def test_derived_files_are_fsynced_before_their_rename(tmp_path, monkeypatch, fsync_log):
    """A recipe's files (onnx.save, no fsync) are fsync'd before they are moved into place."""
    pytest.importorskip("onnx")
    from nanocaption_desktop.engine.derive import cache
    from nanocaption_desktop.engine.derive.recipes import Recipe

    monkeypatch.setenv("NANOCAPTION_DATA_DIR", str(tmp_path / "data"))

    def make(source: Path, tmp: Path) -> dict:
        (tmp / "graph.onnx").write_bytes(b"derived")
        return {}

    recipe = Recipe(what="test", format=1, files=("graph.onnx",), make=make)
    source = tmp_path / "model.onnx"
    source.write_bytes(b"stock")
    folder = tmp_path / "copy"
    doc = cache._derive(source, folder, cache.source_facts(source), recipe)
    assert isinstance(doc, dict) and doc["usable"]
    moved = [name for name, _ in fsync_log]
    assert moved[:2] == ["graph.onnx", "manifest.json"]  # then the remembered check
    assert all(synced for _, synced in fsync_log)
    assert json.loads((folder / "manifest.json").read_text())["files"]["graph.onnx"]["size"] == 7
