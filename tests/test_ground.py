"""The ground layer: the one SHA-256 helper, the cache folder, and the trust check's probe."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from fixture_paths import TINY_BUNDLE

from nanocaption_desktop.ground import paths
from nanocaption_desktop.ground.errors import ModelError
from nanocaption_desktop.ground.hashing import file_sha256, hash_file
from nanocaption_desktop.modelstore.trust import check_trust


def test_file_sha256_is_size_and_digest_of_the_bytes(tmp_path):
    data = bytes(range(256)) * 5000  # more than one 1 MiB chunk
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    assert file_sha256(path) == (len(data), hashlib.sha256(data).hexdigest())


def test_hash_file_continues_a_digest(tmp_path):
    """A resumed download hashes what it already has, then the rest: the digest of the whole."""
    (tmp_path / "part").write_bytes(b"first half ")
    digest = hash_file(tmp_path / "part")
    digest.update(b"second half")
    assert digest.hexdigest() == hashlib.sha256(b"first half second half").hexdigest()


def test_cache_dir_follows_the_data_dir_override(monkeypatch, tmp_path):
    monkeypatch.setenv("NANOCAPTION_DATA_DIR", str(tmp_path))
    assert paths.user_cache_dir() == tmp_path / "cache"
    monkeypatch.delenv("NANOCAPTION_DATA_DIR")
    assert "NanoCaption" in paths.user_cache_dir().parts


def test_old_import_paths_name_the_same_objects():
    import nanocaption_desktop
    import nanocaption_desktop.engine.errors as engine_errors
    import nanocaption_desktop.paths as old_paths
    from nanocaption_desktop.ground.version import __version__

    assert engine_errors.ModelError is ModelError
    assert old_paths.user_data_dir is paths.user_data_dir
    assert nanocaption_desktop.__version__ == __version__


@pytest.fixture
def untrusted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the tiny bundle without a manifest, and nothing remembered about it."""
    monkeypatch.setenv("NANOCAPTION_DATA_DIR", str(tmp_path / "data"))
    copy = tmp_path / "bundle"
    shutil.copytree(TINY_BUNDLE, copy, ignore=shutil.ignore_patterns("optimized", "manifest.json"))
    return copy


def test_the_trust_check_runs_the_probe_it_is_given(untrusted):
    """The model store decides when to probe; the probe itself is passed in (the engine's, in
    the app), so the store never imports the engine. A probe's refusal is the check's."""
    seen = []

    def refuse(files):
        seen.append(list(files))
        raise ModelError(str(files[0]), "crashed the runtime")

    with pytest.raises(ModelError, match="crashed the runtime"):
        check_trust(untrusted, probe=refuse)
    assert seen and all(p.suffix == ".onnx" for p in seen[0])
    check_trust(untrusted, probe=lambda files: None)  # a passing probe is remembered
    check_trust(untrusted, probe=refuse)


def test_the_trust_check_cannot_be_called_without_a_probe(untrusted):
    with pytest.raises(TypeError):
        check_trust(untrusted)  # type: ignore[call-arg]
