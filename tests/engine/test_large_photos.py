"""Camera-size JPEGs (100-200 megapixels) caption within a small memory budget (issue 16).

A JPEG over `limits.JPEG_FULL_DECODE_PIXELS` is decoded at a reduced scale in libjpeg (Pillow's
`draft`), never below what the caller needs; other formats keep a pixel limit in megapixels
that the caller sets. The test photos are made once per session in a subprocess (a solid
background with shapes, quality 20: about a second each, 1-2 MB on disk).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from fixture_paths import IMAGES_DIR
from PIL import Image

from nanocaption_desktop.engine.errors import ImageError, RequestError
from nanocaption_desktop.engine.images import load_image
from nanocaption_desktop.engine.isolation import DecodePool
from nanocaption_desktop.engine.limits import JPEG_FULL_DECODE_PIXELS
from nanocaption_desktop.engine.preprocess import PreprocessConfig

SIZES = {"100mp.jpg": (11648, 8736), "192mp.jpg": (16000, 12000)}

MAKE = """\
import sys
from PIL import Image, ImageDraw
w, h, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
img = Image.new("RGB", (w, h), (40, 90, 160))
draw = ImageDraw.Draw(img)
draw.ellipse((w // 4, h // 4, w // 2, h // 2), fill=(250, 210, 40))
draw.rectangle((0, h * 2 // 3, w, h), fill=(60, 150, 60))
img.save(out, "JPEG", quality=20)
"""

# Peak resident memory of decoding + preprocessing one photo, above the interpreter's baseline
# after the imports (ru_maxrss, Linux: KiB), in a fresh process.
MEASURE = """\
import json, resource, sys
import numpy as np
from nanocaption_desktop.engine.images import load_image
from nanocaption_desktop.engine.preprocess import PreprocessConfig, preprocess
def peak(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
base = peak()
img = load_image(sys.argv[1])
pixels = preprocess([img], PreprocessConfig())
print(json.dumps({"decoded": img.size, "shape": pixels.shape, "mb": peak() - base,
                  "base": base, "peak": peak()}))
"""


@pytest.fixture(scope="session")
def big_photos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("big-photos")
    made = {}
    for name, (w, h) in SIZES.items():
        path = folder / name
        subprocess.run([sys.executable, "-c", MAKE, str(w), str(h), str(path)], check=True)
        made[name] = path
    return made


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss in KiB (Linux)")
@pytest.mark.parametrize("name", sorted(SIZES))
def test_a_camera_jpeg_decodes_under_300_mb(big_photos: dict[str, Path], name: str):
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, str(big_photos[name])],
        capture_output=True,
        text=True,
        check=True,
    )
    got = json.loads(done.stdout)
    w, h = SIZES[name]
    assert got["shape"] == [1, 3, 224, 224]
    assert got["decoded"] == [-(-w // 8), -(-h // 8)]  # 1/8 scale: still far above 224
    assert got["mb"] < 300, got
    print(
        f"{name} ({w}×{h}): decoded at {got['decoded'][0]}×{got['decoded'][1]}; peak RSS "
        f"{got['peak']:.0f} MB, {got['mb']:.0f} MB above the process after its imports "
        f"({got['base']:.0f} MB)"
    )


def test_a_camera_jpeg_captions_through_the_capped_decode_pool(
    big_photos: dict[str, Path], captioner
):
    """The decode worker's address space is capped at its start-up size + 300 MB: the photo
    still decodes there, and gives the caption it gives in this process."""
    cfg = captioner.preprocess_config
    with DecodePool(cfg, memory_mb=300) as pool:
        pixels = pool.prepare(big_photos["192mp.jpg"])
    assert pixels.shape == (1, 3, cfg.height, cfg.width)
    here = captioner.prepare(big_photos["192mp.jpg"])
    np.testing.assert_array_equal(pixels, here)
    caption = captioner.caption(big_photos["100mp.jpg"])
    assert caption.text and np.isfinite(caption.score)


def test_ordinary_photos_decode_at_full_size(tmp_path: Path):
    """Below JPEG_FULL_DECODE_PIXELS nothing changes: captions keep every token."""
    jpeg = IMAGES_DIR / "sun_and_grass.jpg"
    with Image.open(jpeg) as img:
        full = img.size
    assert full[0] * full[1] <= JPEG_FULL_DECODE_PIXELS
    assert load_image(jpeg).size == full


def test_the_pixel_limit_is_the_callers_and_speaks_megapixels(tmp_path: Path):
    png = tmp_path / "wide.png"
    Image.new("RGB", (3000, 1000), (9, 9, 9)).save(png)
    assert load_image(png, max_megapixels=3).size == (3000, 1000)
    with pytest.raises(ImageError) as err:
        load_image(png, max_megapixels=2.5)
    assert str(err.value) == (
        f"{png}: image too large: 3000×1000 pixels (3 megapixels) is over the limit of "
        "2.5 megapixels (a setting: the largest image to read)"
    )
    with pytest.raises(RequestError, match="max_megapixels must be between 1 and 1000"):
        DecodePool(PreprocessConfig(), max_megapixels=0.5)


def test_a_jpeg_over_the_limit_even_at_its_smallest_scale_is_refused(big_photos):
    with pytest.raises(ImageError, match=r"16000×12000 pixels \(192 megapixels\)"):
        load_image(big_photos["192mp.jpg"], max_megapixels=1)


def test_the_cli_takes_max_megapixels(tmp_path: Path, tiny_bundle: Path):
    png = tmp_path / "wide.png"
    Image.new("RGB", (3000, 1000), (9, 9, 9)).save(png)
    run = [sys.executable, "-m", "nanocaption_desktop", "caption", "--model", str(tiny_bundle)]
    done = subprocess.run([*run, "--max-megapixels", "2", str(png)], capture_output=True, text=True)
    assert done.returncode == 1, done.stderr
    assert f"{png}: image too large: 3000×1000 pixels (3 megapixels)" in done.stderr
    assert "over the limit of 2 megapixels" in done.stderr
    done = subprocess.run([*run, "--max-megapixels", "0", str(png)], capture_output=True, text=True)
    assert done.returncode == 2 and "--max-megapixels: must be a number from 1 to 1000" in (
        done.stderr
    )
    ok = subprocess.run([*run, "--max-megapixels", "3", str(png)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert textwrap.dedent(ok.stdout).strip()


def _jpeg_declaring(w: int, h: int) -> bytes:
    """A real JPEG whose frame header says ``w``×``h``, cut right after its scan header."""
    import io

    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 20, 20)).save(buf, "JPEG")
    data = bytearray(buf.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = h.to_bytes(2, "big") + w.to_bytes(2, "big")
    sos = data.index(b"\xff\xda")
    return bytes(data[: sos + 2 + int.from_bytes(data[sos + 2 : sos + 4], "big")])


@pytest.mark.parametrize("size", [(65000, 65000), (60000, 8000)])
def test_a_jpeg_declaring_absurd_dimensions_with_no_data_stays_refused(size):
    data = _jpeg_declaring(*size)
    assert len(data) < 1000
    with DecodePool(PreprocessConfig(), memory_mb=300) as pool:
        with pytest.raises(ImageError) as err:
            pool.prepare(data, name="bomb.jpg")
    reason = err.value.reason
    assert "truncated or damaged" in reason or "image too large" in reason, reason
