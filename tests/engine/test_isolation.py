"""DecodePool: same pixels as in-process decoding, previews, errors, threads, close."""

from __future__ import annotations

import io
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nanocaption_desktop.engine.errors import ImageError
from nanocaption_desktop.engine.images import load_image
from nanocaption_desktop.engine.isolation import DecodePool
from nanocaption_desktop.engine.preprocess import PreprocessConfig, preprocess

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "images"
IMAGES = sorted(FIXTURES.iterdir())
CFG = PreprocessConfig()


@pytest.fixture(scope="module")
def pool() -> Iterator[DecodePool]:
    with DecodePool(CFG, workers=2, timeout=60) as p:
        yield p


def test_prepare_equals_in_process(pool: DecodePool) -> None:
    for path in IMAGES:
        want = preprocess([load_image(path)], CFG)
        for source in (path, str(path), path.read_bytes(), io.BytesIO(path.read_bytes())):
            got = pool.prepare(source)
            assert got.dtype == np.float32 and got.flags.writeable
            np.testing.assert_array_equal(got, want)


def test_preview_and_both(pool: DecodePool) -> None:
    path = FIXTURES / "tall_strip.bmp"
    img = load_image(path)
    pv = pool.preview(path, 64)
    assert max(pv.width, pv.height) == 64 and len(pv.rgb) == pv.width * pv.height * 3
    thumb = img.copy()
    thumb.thumbnail((64, 64))
    assert pv.rgb == thumb.tobytes()
    pixels, pv2 = pool.prepare_with_preview(path.read_bytes(), 64)
    assert pv2 == pv
    np.testing.assert_array_equal(pixels, preprocess([img], CFG))
    small = pool.preview(path, 10_000)  # never enlarged
    assert (small.width, small.height) == img.size


def test_errors_name_the_source(pool: DecodePool, tmp_path: Path) -> None:
    with pytest.raises(ImageError, match=r"^notes\.jpg: not an image"):
        pool.prepare(b"just text", name="notes.jpg")
    missing = tmp_path / "gone.png"
    with pytest.raises(ImageError) as err:
        pool.prepare(missing)
    assert str(err.value) == f"{missing}: file not found"
    with pytest.raises(ImageError, match="cannot read an image from a float"):
        pool.prepare(1.5)  # type: ignore[arg-type]


def test_pil_images_are_handled_in_process(pool: DecodePool) -> None:
    img = Image.new("RGBA", (30, 20), (0, 0, 0, 0))
    np.testing.assert_array_equal(pool.prepare(img), preprocess([load_image(img)], CFG))
    assert pool.preview(img, 8).width == 8


def test_two_threads_share_the_pool(pool: DecodePool) -> None:
    want = {p: preprocess([load_image(p)], CFG) for p in IMAGES}
    failures: list[str] = []

    def work() -> None:
        for _ in range(3):
            for p in IMAGES:
                if not np.array_equal(pool.prepare(p), want[p]):
                    failures.append(p.name)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


def test_close_stops_the_workers() -> None:
    pool = DecodePool(CFG, workers=1)
    procs = [w.proc for w in pool._all]
    assert pool.prepare(IMAGES[0]).shape == (1, 3, 224, 224)
    pool.close()
    assert all(not p.is_alive() for p in procs)
    with pytest.raises(ImageError, match="closed"):
        pool.prepare(IMAGES[0])
    with pytest.raises(ValueError):
        DecodePool(CFG, workers=0)


@pytest.mark.skipif(not hasattr(signal, "SIGINT") or os.name != "posix", reason="POSIX signals")
def test_ctrl_c_is_left_to_the_parent(pool: DecodePool) -> None:
    """Ctrl+C reaches the whole process group; workers ignore it (the CLI cancels gracefully)."""
    for worker in pool._all:  # every worker is up and waiting for work
        pool._wait_ready(worker)
    replaced = pool.replaced
    for worker in list(pool._all):
        os.kill(worker.proc.pid, signal.SIGINT)
    for path in IMAGES:
        assert pool.prepare(path).shape == (1, 3, 224, 224)
    assert pool.replaced == replaced
