"""Issue 7 points 1, 2 and 4 for images: hostile files give one readable ImageError each, the
decode pool survives real crashes, hangs and memory blow-ups, and global Pillow state is untouched.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hostile_files import (
    Tally,
    animated_gif,
    big_gray_png,
    cmyk_jpeg,
    encode,
    eps_file,
    palette_png_with_transparency,
    pattern,
    pdf_file,
    png16,
    png_declaring,
)
from PIL import Image, ImageFile

from nanocaption_desktop.engine import images
from nanocaption_desktop.engine.decode_worker import ORPHANED, worker_main
from nanocaption_desktop.engine.errors import ImageError
from nanocaption_desktop.engine.images import load_image
from nanocaption_desktop.engine.isolation import DecodePool
from nanocaption_desktop.engine.preprocess import PreprocessConfig, preprocess

CFG = PreprocessConfig(height=32, width=32)
LIMIT_MP = 100  # engine.limits.DEFAULT_MAX_MEGAPIXELS


@pytest.fixture(scope="module")
def tally(request: pytest.FixtureRequest) -> Iterator[Tally]:
    t = Tally("hostile images (load_image and DecodePool)")
    yield t
    capman = request.config.pluginmanager.getplugin("capturemanager")
    with capman.global_and_fixture_disabled():
        print(t.table())


def expect_error(tally: Tally, source: object, *, name: str | None = None, pool=None) -> str:
    tally.tried += 1
    try:
        if pool is None:
            load_image(source, name=name)  # type: ignore[arg-type]
        else:
            pool.prepare(source, name=name)
    except ImageError as e:
        tally.error(e.reason)
        return str(e)
    except BaseException:
        tally.crashes += 1
        raise
    tally.decoded += 1
    raise AssertionError(f"{name or source!r} decoded, an ImageError was expected")


def expect_ok(tally: Tally, source: object) -> np.ndarray:
    tally.tried += 1
    try:
        arr = np.asarray(load_image(source))  # type: ignore[arg-type]
    except BaseException:
        tally.crashes += 1
        raise
    tally.decoded += 1
    assert arr.dtype == np.uint8 and arr.ndim == 3 and arr.shape[2] == 3
    return arr


def truncated(data: bytes, keep: float) -> bytes:
    return data[: int(len(data) * keep)]


BOMBS = [(10_001, 10_000), (20_000, 20_000), (100_000, 100_000), (1, 2**31 - 1)]


@pytest.mark.parametrize(("w", "h"), BOMBS)
def test_decompression_bomb_is_refused_with_size_and_limit(tally: Tally, w: int, h: int) -> None:
    data = png_declaring(w, h)
    assert len(data) < 200
    msg = expect_error(tally, data, name="bomb.png")
    assert msg.startswith(f"bomb.png: image too large: {w}×{h} pixels (")
    limit = f"is over the limit of {LIMIT_MP} megapixels (a setting: the largest image to read)"
    assert msg.endswith(limit)


def test_bomb_warning_is_an_error_only_inside_the_call(tally: Tally) -> None:
    expect_error(tally, png_declaring(10_000, 10_000))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Image._decompression_bomb_check((10_000, 10_000))  # the process-wide filter is unchanged
    assert [w.category for w in caught] == [Image.DecompressionBombWarning]


def test_global_pillow_settings_are_untouched(tally: Tally) -> None:
    before = (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES, list(warnings.filters))
    expect_error(tally, png_declaring(20_000, 20_000))
    expect_error(tally, truncated(encode(pattern(), "JPEG"), 0.5))
    assert before == (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES, warnings.filters)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF", "TIFF", "BMP"])
@pytest.mark.parametrize("keep", [0.3, 0.7, 0.95])
def test_truncated_files_are_errors_not_half_images(tally: Tally, fmt: str, keep: float) -> None:
    data = truncated(encode(pattern(64, 48), fmt), keep)
    msg = expect_error(tally, data, name=f"cut.{fmt.lower()}")
    assert "truncated or damaged" in msg or "not an image" in msg or "damaged" in msg


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"this is a text file, not a photo\n" * 20, "not an image (or a format we do not read)"),
        (eps_file(), "unsupported format EPS/PostScript"),
        (b"\xc5\xd0\xd3\xc6" + b"\0" * 60, "unsupported format EPS"),
        (pdf_file(), "unsupported format PDF"),
        (b"8BPS\x00\x01" + b"\0" * 40, "unsupported format PSD"),
        (encode(pattern(), "ICO"), "unsupported format ICO"),
        (encode(pattern(), "PPM"), "not an image (or a format we do not read)"),
        (encode(pattern(), "TGA"), "not an image (or a format we do not read)"),
    ],
    ids=["text", "eps", "eps-binary", "pdf", "psd", "ico", "ppm", "tga"],
)
def test_refused_formats_name_the_reason(tally: Tally, data: bytes, reason: str) -> None:
    assert expect_error(tally, data, name="photo.jpg") == f"photo.jpg: {reason}"


def test_eps_never_reaches_ghostscript(tally: Tally, tmp_path: Path) -> None:
    path = tmp_path / "drawing.jpg"
    path.write_bytes(eps_file())
    expect_error(tally, path)
    with Image.open(path) as opened_by_a_caller:  # a caller's own EPS image is refused too
        assert opened_by_a_caller.format == "EPS"
        expect_error(tally, opened_by_a_caller)


def test_odd_but_valid_files_decode(tally: Tally) -> None:
    cmyk = expect_ok(tally, cmyk_jpeg())
    assert cmyk[0, 0, 0] > 200 and cmyk[0, 0, 1] < 50 and cmyk[0, 0, 2] < 50  # C0 M255 Y255: red
    gray16 = expect_ok(tally, png16())
    assert gray16[0, 0, 0] == 0 and gray16[0, 63, 0] == round(63 * 1040 / 257)
    pal = expect_ok(tally, palette_png_with_transparency())
    assert tuple(pal[0, 0]) == (255, 255, 255) and tuple(pal[0, 7]) == (0, 0, 255)
    gif = expect_ok(tally, animated_gif())
    assert tuple(gif[5, 5]) == (255, 0, 0)  # the first frame


@pytest.mark.parametrize(
    "name", ["empty.jpg", "folder", "missing.png", "-leading-dash.jpg", "x" * 300 + ".jpg"]
)
def test_path_failures(tally: Tally, tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    if name == "empty.jpg":
        path.write_bytes(b"")
    elif name == "folder":
        path.mkdir()
    msg = expect_error(tally, str(path))
    expected = {
        "empty.jpg": "empty file (0 bytes)",
        "folder": "is a folder, not a file",
        "missing.png": "file not found",
        "-leading-dash.jpg": "file not found",
    }.get(name, "the file name or path is too long")
    assert msg == f"{path}: {expected}"


class BytesPath:
    """An os.PathLike whose path is bytes (what os.scandir(bytes) gives)."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw

    def __fspath__(self) -> bytes:
        return self.raw


@pytest.mark.skipif(os.name != "posix" or sys.platform == "darwin", reason="bytes names: Linux")
def test_non_utf8_and_dash_names_decode(tally: Tally, tmp_path: Path) -> None:
    raw = os.path.join(os.fsencode(tmp_path), b"caf\xe9-\xff.png")
    with open(raw, "wb") as f:
        f.write(encode(pattern(), "PNG"))
    for source in (raw.decode("utf-8", "surrogateescape"), Path(os.fsdecode(raw)), BytesPath(raw)):
        expect_ok(tally, source)
    want = preprocess([load_image(Path(os.fsdecode(raw)))], CFG)
    with DecodePool(CFG, timeout=60) as pool:  # the name crosses the process boundary intact
        for source in (Path(os.fsdecode(raw)), BytesPath(raw)):
            tally.tried += 1
            np.testing.assert_array_equal(pool.prepare(source), want)
            tally.decoded += 1
    os.remove(raw)
    assert expect_error(tally, os.fsdecode(raw)).endswith("caf\\xe9-\\xff.png: file not found")
    dash = tmp_path / "-n.jpg"
    dash.write_bytes(encode(pattern(), "JPEG"))
    expect_ok(tally, str(dash))
    longest = tmp_path / ("é" * 100 + "😀" * 12 + ".jpg")  # 200 + 48 + 4 = 252 bytes: legal
    longest.write_bytes(encode(pattern(), "JPEG"))
    expect_ok(tally, longest)


@pytest.mark.skipif(os.name != "posix", reason="symlinks and FIFOs: POSIX")
def test_symlink_loop_fifo_and_device(tally: Tally, tmp_path: Path) -> None:
    loop = tmp_path / "loop.jpg"
    loop.symlink_to(tmp_path / "loop2.jpg")
    (tmp_path / "loop2.jpg").symlink_to(loop)
    assert expect_error(tally, loop).endswith("too many levels of symbolic links (a link loop?)")
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)  # opening it for reading would block forever
    assert expect_error(tally, fifo).endswith("not a regular file (a pipe, socket or device)")
    assert expect_error(tally, "/dev/zero").endswith(
        "not a regular file (a pipe, socket or device)"
    )
    dangling = tmp_path / "dangling.png"
    dangling.symlink_to(tmp_path / "nowhere.png")
    assert expect_error(tally, dangling).endswith("file not found")


def test_permission_denied_message(
    tally: Tally, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Root reads anything, so the refusal is simulated at open(); the mapping is what's tested."""
    path = tmp_path / "locked.png"
    path.write_bytes(encode(pattern(), "PNG"))

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(images, "open", refuse, raising=False)
    assert expect_error(tally, path) == f"{path}: permission denied"


@pytest.mark.skipif(not hasattr(os, "getuid") or os.getuid() == 0, reason="root reads anything")
def test_unreadable_file(tally: Tally, tmp_path: Path) -> None:
    path = tmp_path / "secret.png"
    path.write_bytes(encode(pattern(), "PNG"))
    path.chmod(0)
    assert expect_error(tally, path).endswith("permission denied")


# -- the decode pool: real worker processes that really die, hang or run out of memory --------
@pytest.fixture(scope="module")
def faulty_pool() -> Iterator[DecodePool]:
    faults = {"crash.png": "crash", "hang.png": "hang", "spin.png": "spin", "hog.png": "hog"}
    with DecodePool(CFG, workers=1, timeout=3, memory_mb=96, stuck_after=3, _faults=faults) as pool:
        yield pool


def test_pool_survives_a_crash_a_hang_and_a_memory_hog(
    tally: Tally, faulty_pool: DecodePool
) -> None:
    good = encode(pattern(), "PNG")
    expected = preprocess([load_image(good)], CFG)
    for name, reason in [
        ("crash.png", "could not decode: the decoder crashed"),
        ("hang.png", "could not decode: stuck: no progress for 3 s"),
        ("spin.png", "could not decode: took longer than 3 s of processor time"),
        ("hog.png", "could not decode: needs more than 96 MB"),
    ]:
        replaced = faulty_pool.replaced
        if name == "hog.png" and not sys.platform.startswith("linux"):
            continue
        assert expect_error(tally, good, name=name, pool=faulty_pool) == f"{name}: {reason}"
        assert faulty_pool.replaced == replaced + 1
        np.testing.assert_array_equal(faulty_pool.prepare(good, name="next.png"), expected)
    tally.crashes -= 1  # the injected crash above is the point of the test, not a finding
    tally.hangs -= 2
    tally.other["injected faults"] = 4


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS is enforced on Linux")
def test_pool_memory_cap_stops_a_real_oversized_image(
    tally: Tally, faulty_pool: DecodePool
) -> None:
    big = big_gray_png(9000, 9000)  # 81 Mpx: under the pixel limit, 81 MB as L, 243 MB as RGB
    msg = expect_error(tally, big, name="huge.png", pool=faulty_pool)
    assert msg == "huge.png: could not decode: needs more than 96 MB"
    assert faulty_pool.prepare(encode(pattern(), "JPEG")).shape == (1, 3, 32, 32)


def test_pool_reports_policy_errors_like_load_image(tally: Tally, faulty_pool: DecodePool) -> None:
    for data, name in [(png_declaring(20_000, 20_000), "bomb.png"), (eps_file(), "x.eps")]:
        in_process = expect_error(tally, data, name=name)
        assert expect_error(tally, data, name=name, pool=faulty_pool) == in_process


@pytest.mark.skipif(not hasattr(signal, "SIGPROF"), reason="ITIMER_PROF is POSIX")
@pytest.mark.parametrize("fault", ["hang", "spin"])
def test_a_stuck_worker_ends_itself_when_nobody_kills_it(tally: Tally, fault: str) -> None:
    """If the app is killed mid-decode, a stuck worker must not live on: one blocked in a wait
    sees the pipe close; one burning the processor meets its processor-time limit (SIGPROF)
    even with the pipe still open. (It used to be a wall-clock SIGALRM, which also ended a
    worker that was only paused.)"""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=worker_main, args=(child, CFG, None, {"stuck.png": fault}, 1.0))
    proc.start()
    child.close()
    assert parent.recv()[0] == "ready"
    parent.send(("prepare", "stuck.png", ("data", encode(pattern(), "PNG")), None))
    if fault == "hang":
        parent.close()  # the "app" is gone and never kills the worker
    proc.join(60)  # the next look at the pipe (0.5 s), or 1 s of processor time
    assert proc.exitcode == (ORPHANED if fault == "hang" else -signal.SIGPROF)
    parent.close()
    tally.tried += 1
    tally.other["self-ended workers"] = tally.other.get("self-ended workers", 0) + 1
