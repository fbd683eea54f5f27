"""preprocess equals the pixel values transformers' ViTImageProcessor recorded in expected.json."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fixture_paths import TINY_BUNDLE
from PIL import Image

from nanocaption_desktop.engine.images import load_image
from nanocaption_desktop.engine.preprocess import PreprocessConfig, preprocess, preprocess_one

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text())
BUNDLE_CFG = json.loads((TINY_BUNDLE / "preprocessor_config.json").read_text())


@pytest.mark.parametrize("name", sorted(EXPECTED["images"]))
def test_matches_vit_image_processor(name: str) -> None:
    ref = EXPECTED["images"][name]["pixel_values"]
    cfg = PreprocessConfig.from_dict(BUNDLE_CFG)
    pv = preprocess([load_image(FIXTURES / "images" / name)], cfg)
    assert list(pv.shape) == ref["shape"] and pv.dtype == np.float32
    flat = pv.reshape(-1).astype(np.float64)
    np.testing.assert_allclose(flat[ref["sample_index"]], ref["sample_values"], rtol=0, atol=1e-5)
    assert abs(flat.sum() - ref["sum"]) <= 1e-5 * flat.size
    assert abs(np.abs(flat).sum() - ref["abs_sum"]) <= 1e-5 * flat.size


def test_batch_equals_one_by_one() -> None:
    cfg = PreprocessConfig.from_dict(BUNDLE_CFG)
    imgs = [load_image(FIXTURES / "images" / n) for n in sorted(EXPECTED["images"])]
    batch = preprocess(imgs, cfg)
    for i, img in enumerate(imgs):
        np.testing.assert_array_equal(batch[i], preprocess_one(img, cfg))


def test_config_forms() -> None:
    assert PreprocessConfig.from_dict({"size": 224}) == PreprocessConfig()
    cfg = PreprocessConfig.from_dict({"size": {"height": 32, "width": 48}, "resample": 3})
    assert (cfg.height, cfg.width, cfg.resample) == (32, 48, 3)
    assert PreprocessConfig.from_dict({"size": {"shortest_edge": 64}}).width == 64
    assert PreprocessConfig.from_dict({}) == PreprocessConfig()
    assert (
        PreprocessConfig.from_dict({"image_mean": 0.5, "image_std": 0.25}).image_std == (0.25,) * 3
    )
    for bad in (
        {"size": {"longest_edge": 3}},
        {"size": 0},
        {"resample": 9},
        {"image_std": [1, 0, 1]},
        {"image_mean": [0.5, 0.5]},
    ):
        with pytest.raises(ValueError, match="preprocessor_config"):
            PreprocessConfig.from_dict(bad)


def test_arithmetic_follows_the_reference_order_and_dtypes() -> None:
    img = Image.fromarray(np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3) * 13)
    cfg = PreprocessConfig(
        height=2, width=3, image_mean=(0.485, 0.456, 0.406), image_std=(0.229, 0.224, 0.225)
    )
    got = preprocess(img, cfg)
    x = (np.asarray(img).astype(np.float64) * (1 / 255)).astype(np.float32)
    want = (x - np.array(cfg.image_mean, np.float32)) / np.array(cfg.image_std, np.float32)
    np.testing.assert_array_equal(got[0], want.transpose(2, 0, 1))
    raw = preprocess(img, PreprocessConfig(height=2, width=3, do_rescale=False, do_normalize=False))
    np.testing.assert_array_equal(raw[0], np.asarray(img).astype(np.float32).transpose(2, 0, 1))


@pytest.mark.parametrize("size", [(1, 1), (3, 5), (5000, 7), (7, 3000), (224, 224)])
def test_any_size_gives_the_configured_shape(size: tuple[int, int]) -> None:
    pv = preprocess([Image.new("RGB", size, (255, 0, 0))], PreprocessConfig())
    assert pv.shape == (1, 3, 224, 224)
    np.testing.assert_allclose(pv[0, :, 100, 100], [1.0, -1.0, -1.0])


def test_inputs_are_checked() -> None:
    with pytest.raises(ValueError, match="RGB"):
        preprocess([Image.new("L", (4, 4))], PreprocessConfig())
    with pytest.raises(ValueError, match="uint8"):
        preprocess([np.zeros((4, 4, 3), np.float32)], PreprocessConfig())
    assert preprocess([], PreprocessConfig()).shape == (0, 3, 224, 224)
    arr = np.asarray(load_image(FIXTURES / "images" / "gradient.png"))
    np.testing.assert_array_equal(
        preprocess(arr, PreprocessConfig()), preprocess([Image.fromarray(arr)], PreprocessConfig())
    )
