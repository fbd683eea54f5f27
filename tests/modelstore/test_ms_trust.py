"""Bundles are checked before any session is created: tampering gives a clear ModelError.

The trust policy's memory (remembered checks, probes, the executable's own model); one-shot
hostile bundles (symlinks, hard-linked external data, a sound copy) are in
tests/reliability/test_hostile_bundles.py."""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import pytest
from fixture_paths import TINY_BUNDLE

from nanocaption_desktop.engine import Captioner, ModelError
from nanocaption_desktop.engine.probe import check_before_load
from nanocaption_desktop.modelstore import write_manifest


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    copy = tmp_path / "bundle"
    shutil.copytree(TINY_BUNDLE, copy)
    return copy


def test_manifest_hash_mismatch_is_refused_and_rechecked_after_a_change(bundle: Path):
    write_manifest(bundle)
    check_before_load(bundle)  # verified and remembered
    check_before_load(bundle)  # remembered: no problem either
    dec = bundle / "onnx" / "decoder_with_past_model_quantized.onnx"
    data = bytearray(dec.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, different content, new mtime
    dec.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="SHA-256"):
        Captioner.load(bundle)


def test_untrusted_bundle_is_probed_in_a_subprocess_and_remembered(bundle: Path, monkeypatch):
    import nanocaption_desktop.engine.probe as probe

    calls = []
    real = probe.probe_sessions
    monkeypatch.setattr(probe, "probe_sessions", lambda files: calls.append(files) or real(files))
    check_before_load(bundle)
    check_before_load(bundle)
    assert len(calls) == 1  # the second load trusts the remembered probe


def test_probe_names_the_file_that_kills_the_runtime(bundle: Path, monkeypatch):
    """A real child process really dying stands in for a native crash inside onnxruntime."""
    import nanocaption_desktop.engine.probe as probe

    enc = bundle / "onnx" / "encoder_model_quantized.onnx"
    monkeypatch.setattr(probe, "_probe", _die_on_encoder)
    with pytest.raises(ModelError, match="crashed the ONNX runtime") as err:
        probe.probe_sessions([enc])
    assert "encoder_model_quantized.onnx" in str(err.value)


def _die_on_encoder(paths, conn, cpu_seconds):  # top level: the child imports it from here
    conn.send(("start", paths[0]))
    os.kill(os.getpid(), signal.SIGSEGV)  # what a native crash in onnxruntime looks like


def _killed_from_outside(paths, conn, cpu_seconds):
    conn.send(("start", paths[0]))
    os.kill(os.getpid(), signal.SIGKILL)  # the OOM killer, a user's kill -9: not the model


def _cannot_import(paths, conn, cpu_seconds):
    raise SystemExit(1)  # the child dies before it answers, as a failed import would


@pytest.mark.parametrize("child", [_killed_from_outside, _cannot_import])
def test_a_probe_that_fails_for_another_reason_never_calls_the_model_damaged(
    bundle: Path, monkeypatch, child
):
    """Issue 16: only a crash signal while opening a file blames the file; anything else is
    `ProbeFailed` with its own message, and nothing is remembered (the next load probes again)."""
    import nanocaption_desktop.engine.probe as probe
    from nanocaption_desktop.ground.errors import ProbeFailed
    from nanocaption_desktop.modelstore import stamps

    monkeypatch.setattr(probe, "_probe", child)
    with pytest.raises(ProbeFailed) as err:
        check_before_load(bundle)
    text = str(err.value)
    assert "not found at fault" in text and "damaged" not in text
    assert "refusing" not in text
    assert stamps.recall(f"probe:{bundle.resolve()}") is None
    monkeypatch.undo()
    check_before_load(bundle)  # the real probe now runs and passes
    assert stamps.recall(f"probe:{bundle.resolve()}") is not None


def test_a_probe_process_that_cannot_start_is_not_the_models_fault(bundle: Path, monkeypatch):
    import nanocaption_desktop.engine.probe as probe
    from nanocaption_desktop.ground.errors import ProbeFailed

    def refuse(self):
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(probe.spawn_context().Process, "start", refuse)
    with pytest.raises(ProbeFailed, match="could not start the model check process"):
        probe.probe_sessions([bundle / "onnx" / "encoder_model_quantized.onnx"])


def test_the_model_inside_the_executable_is_not_hashed_at_each_launch(
    bundle: Path, tmp_path: Path, monkeypatch
):
    """The model unpacked from the running executable (sys._MEIPASS) comes out of the same
    archive as the code: its hashes are not checked again; the same files elsewhere are, and the
    structural checks (links, external data) still run inside."""
    import sys

    import nanocaption_desktop.modelstore.trust as trust

    write_manifest(bundle)
    (bundle / "config.json").write_text((bundle / "config.json").read_text() + " ")
    monkeypatch.setattr(trust.stamps, "recall", lambda key: None)
    with pytest.raises(ModelError, match="config.json"):
        check_before_load(bundle)  # changed since the manifest: refused anywhere else
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    check_before_load(bundle)  # inside the executable's folder: not hashed
    os.link(bundle / "onnx" / "encoder_model_quantized.onnx", tmp_path / "other-name.onnx")
    with pytest.raises(ModelError, match="hard-linked"):
        check_before_load(bundle)
    (tmp_path / "other-name.onnx").unlink()
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path / "elsewhere"), raising=False)
    with pytest.raises(ModelError, match="config.json"):
        check_before_load(bundle)


def _rewrite_in_place(path: Path) -> None:
    """Same length, same inode, mtime set back: all a writer controls of (size, mtime, inode)."""
    st = path.stat()
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    with open(path, "r+b") as f:
        f.write(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (path.stat().st_size, path.stat().st_mtime_ns, path.stat().st_ino) == (
        st.st_size,
        st.st_mtime_ns,
        st.st_ino,
    )


def test_a_rewrite_that_keeps_size_and_mtime_is_hashed_again(bundle: Path):
    """F3: the remembered fingerprint now holds st_ctime_ns, which a writer cannot set back."""
    write_manifest(bundle)
    check_before_load(bundle)  # verified and remembered
    _rewrite_in_place(bundle / "onnx" / "decoder_with_past_model_quantized.onnx")
    with pytest.raises(ModelError, match="SHA-256"):
        check_before_load(bundle)


def test_a_failed_verify_forgets_the_remembered_bundle(bundle: Path):
    from nanocaption_desktop.cli_models import cmd_verify
    from nanocaption_desktop.modelstore import stamps

    write_manifest(bundle)
    check_before_load(bundle)
    assert stamps.recall(str(bundle.resolve())) is not None
    (bundle / "config.json").write_text((bundle / "config.json").read_text() + " ")
    code, text = cmd_verify(bundle)
    assert code == 2 and "config.json" in text
    assert stamps.recall(str(bundle.resolve())) is None


def test_a_probed_graph_rewritten_in_place_is_probed_again(bundle: Path, monkeypatch):
    import nanocaption_desktop.engine.probe as probe

    calls = []
    monkeypatch.setattr(probe, "probe_sessions", lambda files: calls.append(files))
    check_before_load(bundle)
    _rewrite_in_place(bundle / "onnx" / "encoder_model_quantized.onnx")
    check_before_load(bundle)
    assert len(calls) == 2


def test_a_hard_linked_file_pinned_by_the_manifest_loads_and_stays_checked(
    bundle: Path, tmp_path: Path
):
    """The victim of a link made elsewhere is not refused; a write through the other name is
    still caught (the inode's ctime moves for every name)."""
    write_manifest(bundle)
    enc = bundle / "onnx" / "encoder_model_quantized.onnx"
    os.link(enc, tmp_path / "someone-elses.onnx")
    check_before_load(bundle)
    _rewrite_in_place(tmp_path / "someone-elses.onnx")
    with pytest.raises(ModelError, match="encoder_model_quantized.onnx: SHA-256"):
        check_before_load(bundle)


def test_a_hard_linked_file_the_manifest_does_not_list_is_refused(bundle: Path, tmp_path: Path):
    write_manifest(bundle)
    (tmp_path / "outside.json").write_text("{}")
    os.link(tmp_path / "outside.json", bundle / "extra.json")
    with pytest.raises(ModelError, match="extra.json: is hard-linked"):
        check_before_load(bundle)
