"""F12 and F19: a caller's out-of-range settings or malformed pixel values are the caller's
mistake (`RequestError`, a ValueError naming the limit or the expected shape), raised before any
image is decoded or any session runs; never a model error, a MemoryError or garbage tokens."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nanocaption_desktop.engine import RequestError
from nanocaption_desktop.engine.captioner import Captioner
from nanocaption_desktop.engine.decoding import GenerationSettings, check_request
from nanocaption_desktop.engine.errors import NanoCaptionError
from nanocaption_desktop.engine.limits import MAX_BEAMS, MAX_NEW_TOKENS
from nanocaption_desktop.jobs import caption_folder

IMAGES = Path(__file__).resolve().parents[1] / "fixtures" / "images"
IMAGE = IMAGES / "gradient.png"

OUT_OF_RANGE = [
    ({"beams": MAX_BEAMS + 1}, r"beams must be between 1 and 16 \(MAX_BEAMS\), not 17"),
    ({"beams": 10**6}, r"MAX_BEAMS"),
    ({"max_new_tokens": MAX_NEW_TOKENS + 1}, r"between 1 and 1024 \(MAX_NEW_TOKENS\)"),
    ({"max_new_tokens": 0}, r"MAX_NEW_TOKENS"),
    ({"beams": 2.5}, r"beams must be a whole number"),
    ({"beams": True}, r"beams must be a whole number"),
]


@pytest.fixture
def untouchable(captioner: Captioner, monkeypatch: pytest.MonkeyPatch) -> Captioner:
    """The captioner, with decoding an image and running the encoder made into failures."""

    def no_work(*args: object, **kwargs: object) -> None:
        raise AssertionError("work was done before the request was checked")

    monkeypatch.setattr(captioner, "prepare", no_work)
    monkeypatch.setattr(captioner, "encode", no_work)
    return captioner


@pytest.mark.parametrize(("request_", "message"), OUT_OF_RANGE)
def test_settings_out_of_range_name_the_limit(request_: dict, message: str) -> None:
    s = GenerationSettings(decoder_start_token_id=0, eos_token_id=0)
    with pytest.raises(ValueError, match=message):
        s.override(**request_)
    with pytest.raises(RequestError, match=message):
        check_request(**request_)


@pytest.mark.parametrize(("request_", "message"), OUT_OF_RANGE)
def test_every_caption_call_refuses_before_any_work(
    untouchable: Captioner, request_: dict, message: str
) -> None:
    kw = {"max_new_tokens": request_.get("max_new_tokens"), "beams": request_.get("beams")}
    with pytest.raises(ValueError, match=message):
        untouchable.caption(IMAGE, **kw)
    with pytest.raises(ValueError, match=message):
        untouchable.caption_pixels(np.zeros((1, 3, 224, 224), np.float32), **kw)
    with pytest.raises(ValueError, match=message):
        untouchable.caption_many([IMAGE], **kw)  # at the call, not at the first image


def test_the_models_positions_bound_an_explicit_request(untouchable: Captioner) -> None:
    """The tiny model has 64 positions: the start token and 63 new ones. Asking for more used to
    run past the position table (garbage tokens); it is refused, not silently clipped."""
    assert untouchable.settings.max_positions == 64
    assert untouchable.settings.override(max_new_tokens=63).total_length == 64
    with pytest.raises(ValueError, match=r"max_new_tokens=64 .* 64 positions .* 63 new tokens"):
        untouchable.caption(IMAGE, max_new_tokens=64)


def test_caption_folder_refuses_before_loading_or_reading(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(IMAGE.read_bytes())
    missing_model = tmp_path / "no-model-here"
    with pytest.raises(ValueError, match="MAX_BEAMS"):  # not a ModelError: nothing was loaded
        caption_folder(tmp_path, model=missing_model, beams=MAX_BEAMS + 1)
    with pytest.raises(ValueError, match="MAX_NEW_TOKENS"):
        caption_folder(tmp_path, model=missing_model, max_new_tokens=MAX_NEW_TOKENS + 1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]


def test_caption_folder_checks_the_models_positions_up_front(
    untouchable: Captioner, tmp_path: Path
) -> None:
    (tmp_path / "a.png").write_bytes(IMAGE.read_bytes())
    with pytest.raises(ValueError, match="63 new tokens"):
        caption_folder(tmp_path, captioner=untouchable, max_new_tokens=100)


BAD_PIXELS = [
    (np.zeros((1, 3, 10, 10), np.float32), r"shape \[1, 3, 10, 10\]"),
    (np.zeros((3, 224, 224), np.float32), r"shape \[3, 224, 224\]"),
    (np.zeros((2, 3, 224, 224), np.float32), r"shape \[2, 3, 224, 224\]"),
    (np.zeros((1, 3, 224, 224), np.uint8), r"dtype uint8"),
    (np.zeros((1, 224, 224, 3), np.float32), r"shape \[1, 224, 224, 3\]"),
    (np.full((1, 3, 224, 224), np.nan, np.float32), r"NaN or infinite"),
    (np.full((1, 3, 224, 224), np.inf, np.float64), r"NaN or infinite"),
    ([[1.0, 2.0]], r"shape \[1, 2\]"),
]


@pytest.mark.parametrize(("pixels", "message"), BAD_PIXELS)
def test_malformed_pixels_are_the_callers_mistake(
    untouchable: Captioner, pixels: object, message: str
) -> None:
    with pytest.raises(RequestError, match=message) as err:
        untouchable.caption_pixels(pixels)  # type: ignore[arg-type]
    assert isinstance(err.value, ValueError)
    if "shape" in message or "dtype" in message:
        assert "float [1, 3, 224, 224]" in str(err.value)  # names the expected shape


def test_good_pixels_of_another_float_width_still_caption(captioner: Captioner) -> None:
    pixels = captioner.prepare(IMAGE)
    want = captioner.caption_pixels(pixels).token_ids
    assert captioner.caption_pixels(pixels.astype(np.float64)).token_ids == want


def test_request_error_is_both_kinds() -> None:
    assert issubclass(RequestError, ValueError) and issubclass(RequestError, NanoCaptionError)


def test_a_pil_image_without_pixels_gets_no_caption(captioner: Captioner) -> None:
    """F19: a 0×0 file was refused while a 0×0 PIL image got a caption."""
    from PIL import Image

    from nanocaption_desktop.engine.errors import ImageError

    with pytest.raises(ImageError, match="no pixels"):
        captioner.caption(Image.new("RGB", (0, 0)))
    (bad,) = list(captioner.caption_many([Image.new("L", (0, 3))]))
    assert not bad.ok and "no pixels (0×3)" in (bad.error or "")
