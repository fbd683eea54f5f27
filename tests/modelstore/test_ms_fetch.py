"""models fetch against a fake hub on 127.0.0.1: install, resume, refuse, fail cleanly."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
from pathlib import Path

import pytest

from nanocaption_desktop.cli_models import cmd_fetch
from nanocaption_desktop.engine.errors import Cancelled, ModelError
from nanocaption_desktop.modelstore import (
    MANIFEST_NAME,
    FetchError,
    default_install_dir,
    fetch,
    find_bundle,
    verify,
)
from nanocaption_desktop.modelstore.fetch import staging_dir
from nanocaption_desktop.modelstore.registry import BUNDLES, BundleFile, BundleSpec

BIG = "onnx/decoder_with_past_model_quantized.onnx"


def tree(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*")) if root.exists() else []


def assert_installed(dest: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        assert (dest / rel).read_bytes() == data
    manifest = json.loads((dest / MANIFEST_NAME).read_text())
    assert manifest["files"] == {
        rel: {"size": len(d), "sha256": hashlib.sha256(d).hexdigest()} for rel, d in files.items()
    }
    assert verify(dest) == []
    assert not staging_dir(dest).exists()
    assert not any(p.endswith((".part", ".tmp", ".nctmp")) for p in tree(dest))


def test_full_fetch_installs_every_file_and_the_manifest_last(hub, isolated_env):
    seen: list[tuple[int, int | None, str]] = []
    dest = fetch(base_url=hub.url, progress=lambda d, t, n: seen.append((d, t, n)))
    assert dest == default_install_dir() == isolated_env / "models" / "vit-gpt2"
    assert_installed(dest, hub.files)
    mtimes = {p: p.stat().st_mtime_ns for p in dest.rglob("*") if p.is_file()}
    assert max(mtimes, key=lambda p: (mtimes[p], p.name == MANIFEST_NAME)).name == MANIFEST_NAME
    assert find_bundle() == dest
    # progress: every file reported, ending at its full size
    for rel, data in hub.files.items():
        assert (len(data), len(data), rel) in seen
    assert all(r is None for _, r in hub.requests)  # no Range on a fresh download


def test_hub_style_redirect_keeps_the_hubs_size_and_hash(hub):
    hub.redirect = True
    dest = fetch(base_url=hub.url)
    assert_installed(dest, hub.files)
    assert any(path.startswith("/cdn/") for path, _ in hub.requests)


def test_installed_bundle_is_not_downloaded_again(hub):
    fetch(base_url=hub.url)
    count = len(hub.requests)
    fetch(base_url=hub.url)
    assert len(hub.requests) == count


def test_broken_connection_is_resumed_with_range_in_the_same_run(hub):
    size = len(hub.files[BIG])
    hub.drop_once[BIG] = size // 3
    dest = fetch(base_url=hub.url)
    assert_installed(dest, hub.files)
    big_requests = [r for p, r in hub.requests if p.endswith(BIG)]
    assert big_requests == [None, f"bytes={size // 3}-"]


def test_interrupted_download_is_kept_and_a_later_fetch_resumes(hub, tmp_path):
    dest = tmp_path / "bundle"
    cut = len(hub.files[BIG]) // 2
    hub.drop_once[BIG] = cut
    with pytest.raises(FetchError, match="(?i)interrupted.*run models fetch again to resume"):
        fetch(base_url=hub.url, dest=dest, retries=0)
    assert not dest.exists()
    part = staging_dir(dest) / (BIG + ".part")
    assert part.stat().st_size == cut
    hub.requests.clear()
    fetch(base_url=hub.url, dest=dest)
    assert_installed(dest, hub.files)
    assert (f"/{BUNDLES['vit-gpt2'].repo}/resolve/main/{BIG}", f"bytes={cut}-") in hub.requests


def test_server_that_ignores_range_restarts_the_file(hub, tmp_path):
    dest = tmp_path / "bundle"
    hub.drop_once[BIG] = 1000
    with pytest.raises(FetchError):
        fetch(base_url=hub.url, dest=dest, retries=0)
    hub.ignore_range = True
    fetch(base_url=hub.url, dest=dest)
    assert_installed(dest, hub.files)
    assert hub.requests[-1][1] == "bytes=1000-"  # asked to resume, got the whole file


def test_wrong_sha256_is_rejected_and_nothing_installed(hub, tmp_path):
    dest = tmp_path / "models" / "vit-gpt2"
    hub.sha_override[BIG] = "0" * 64
    with pytest.raises(FetchError, match="SHA-256.*does not match") as info:
        fetch(base_url=hub.url, dest=dest)
    assert "Nothing was installed" in str(info.value)
    assert tree(tmp_path / "models") == []


def test_pinned_registry_hash_is_checked_without_hub_headers(hub, tmp_path, monkeypatch):
    hub.linked = False
    spec = BUNDLES["vit-gpt2"]
    bad = tuple(BundleFile(f.path, sha256="f" * 64) if f.path == BIG else f for f in spec.files)
    monkeypatch.setitem(BUNDLES, "pinned", BundleSpec("pinned", spec.repo, bad))
    with pytest.raises(FetchError, match="does not match"):
        fetch("pinned", base_url=hub.url, dest=tmp_path / "b")
    assert tree(tmp_path) == []


def test_truncated_body_without_hub_headers_is_not_installed(hub, tmp_path):
    hub.linked = False
    hub.drop_once[BIG] = 10
    with pytest.raises(FetchError):
        fetch(base_url=hub.url, dest=tmp_path / "b", retries=0)
    assert not (tmp_path / "b").exists()


def test_unreachable_hub_fails_with_instructions_and_leaves_nothing(closed_port_url, isolated_env):
    with pytest.raises(FetchError) as info:
        fetch(base_url=closed_port_url, timeout=5)
    message = str(info.value)
    assert "could not reach the model hub" in message
    assert "connection refused" in message
    assert "onnx/encoder_model_quantized.onnx" in message
    assert str(default_install_dir()) in message
    assert "--model DIR" in message and "NANOCAPTION_MODEL_DIR" in message
    assert isinstance(info.value, ModelError)
    assert not isolated_env.exists()  # not even the user data folder was left behind


def test_unknown_host_fails_cleanly(isolated_env):
    with pytest.raises(FetchError, match="could not reach the model hub"):
        fetch(base_url="http://nanocaption-no-such-host.invalid", timeout=5)
    assert not isolated_env.exists()


def test_silent_server_times_out_as_unreachable(isolated_env):
    with socket.socket() as listener:  # accepts connections (backlog) but never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        with pytest.raises(FetchError, match="could not reach the model hub.*timed out"):
            fetch(base_url=url, timeout=0.2)
    assert not isolated_env.exists()


def test_missing_file_on_hub_is_an_error(hub, tmp_path):
    del hub.files["tokenizer.json"]
    with pytest.raises(FetchError, match="404"):
        fetch(base_url=hub.url, dest=tmp_path / "b")
    assert tree(tmp_path) == []


def test_cancel_keeps_the_partial_download(hub, tmp_path):
    flag = threading.Event()

    def progress(done: int, total: int | None, name: str) -> None:
        if name == BIG and done > 0:
            flag.set()

    with pytest.raises(Cancelled):
        fetch(base_url=hub.url, dest=tmp_path / "b", progress=progress, cancel=flag)
    assert not (tmp_path / "b").exists()
    assert (staging_dir(tmp_path / "b") / (BIG + ".part")).exists()


def test_cmd_fetch_exit_codes(hub, closed_port_url, tmp_path):
    code, text = cmd_fetch(dest=tmp_path / "x", base_url=closed_port_url, stream=None)
    assert code == 2 and "could not reach the model hub" in text
    code, text = cmd_fetch(dest=tmp_path / "y", base_url=hub.url, stream=None)
    assert code == 0 and str(tmp_path / "y") in text
    code, text = cmd_fetch("nope", stream=None)
    assert code == 2 and "unknown model bundle" in text


def test_force_replaces_a_tampered_install(hub, tmp_path):
    dest = fetch(base_url=hub.url, dest=tmp_path / "b")
    (dest / "config.json").write_text("tampered")
    assert verify(dest)
    fetch(base_url=hub.url, dest=dest)  # a bundle that fails verify is fetched again
    assert_installed(dest, hub.files)
    assert [p for p in tree(tmp_path) if ".old-" in p or p.endswith(".partial")] == []


def test_resume_through_a_hub_redirect(hub):
    hub.redirect = True
    cut = len(hub.files[BIG]) // 4
    hub.drop_once[BIG] = cut
    dest = fetch(base_url=hub.url)
    assert_installed(dest, hub.files)
    cdn = [r for p, r in hub.requests if p.startswith("/cdn/") and p.endswith(BIG)]
    assert cdn == [None, f"bytes={cut}-"]  # the Range header survives the redirect


def test_hand_installed_folder_is_left_alone(hub, tmp_path):
    dest = tmp_path / "bundle"
    dest.mkdir()
    (dest / "config.json").write_text("{}")
    with pytest.raises(FetchError, match="did not install"):
        fetch(base_url=hub.url, dest=dest)
    assert tree(dest) == ["config.json"] and hub.requests == []
    fetch(base_url=hub.url, dest=dest, force=True)
    assert_installed(dest, hub.files)


def test_destination_that_is_a_file_is_an_error(hub, tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(FetchError, match="not a folder"):
        fetch(base_url=hub.url, dest=tmp_path / "file")


def test_wrong_resume_range_restarts_the_file(hub, tmp_path):
    dest = tmp_path / "bundle"
    hub.drop_once[BIG] = 5000
    with pytest.raises(FetchError):
        fetch(base_url=hub.url, dest=dest, retries=0)
    hub.wrong_range_once.add(BIG)
    fetch(base_url=hub.url, dest=dest)
    assert_installed(dest, hub.files)
    assert [r for p, r in hub.requests if p.endswith(BIG)][-2:] == ["bytes=5000-", None]


def test_complete_part_file_is_checked_not_downloaded_again(hub, tmp_path):
    dest = tmp_path / "bundle"
    part = staging_dir(dest) / (BIG + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(hub.files[BIG])  # e.g. killed between the last byte and the rename
    fetch(base_url=hub.url, dest=dest)
    assert_installed(dest, hub.files)
    assert [r for p, r in hub.requests if p.endswith(BIG)] == [f"bytes={len(hub.files[BIG])}-"]


def test_corrupt_complete_part_file_is_rejected(hub, tmp_path):
    dest = tmp_path / "bundle"
    part = staging_dir(dest) / (BIG + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(b"x" * len(hub.files[BIG]))
    with pytest.raises(FetchError, match="does not match"):
        fetch(base_url=hub.url, dest=dest)
    assert tree(tmp_path) == []
    fetch(base_url=hub.url, dest=dest)  # and the next run starts clean
    assert_installed(dest, hub.files)
