"""Pixel preprocessing for the encoder, numpy only, equal to Hugging Face's ``ViTImageProcessor``.

The reference (transformers 4.57, ``image_processing_vit.py`` + ``image_transforms.py``) does, per
image, on the uint8 RGB ``H×W×3`` array:

1. resize with PIL: ``image.resize((width, height), resample=resample, reducing_gap=None)``;
2. rescale: ``(x.astype(float64) * rescale_factor).astype(float32)``;
3. normalize in float32: ``(x - mean) / std`` with ``mean``/``std`` as float32 arrays;
4. channels first. Without rescale, normalize first casts the uint8 array to float32.

This module does the same operations in the same order and dtypes, so the result is identical
(not merely close) for the same Pillow version.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from .limits import MAX_IMAGE_SIDE
from .values import ConfigValueError, flag, integer, number

log = logging.getLogger(__name__)

FILE = "preprocessor_config.json"
_RESAMPLE_NAMES = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic", 4: "box", 5: "hamming"}


@dataclass(frozen=True)
class PreprocessConfig:
    """What ``preprocessor_config.json`` says, with ViTImageProcessor's defaults."""

    height: int = 224
    width: int = 224
    resample: int = 2  # PIL.Image.Resampling.BILINEAR
    do_resize: bool = True
    do_rescale: bool = True
    rescale_factor: float = 1 / 255
    do_normalize: bool = True
    image_mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    image_std: tuple[float, float, float] = (0.5, 0.5, 0.5)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PreprocessConfig:
        """Read a Hugging Face ``preprocessor_config.json`` (already parsed).

        ``size`` may be ``{"height": H, "width": W}``, an int (square) or ``{"shortest_edge": S}``.
        A ViT encoder takes one fixed input size, so ``shortest_edge`` can only mean ``S×S``.
        Every value is checked (values.py): sides in 1..MAX_IMAGE_SIDE, mean/std/rescale finite,
        std not 0, flags true/false; ``ConfigValueError`` (a ``ValueError``) names the key.
        """

        def get(key: str, default: Any) -> Any:
            value = d.get(key)
            return default if value is None else value

        height, width = _size(get("size", {"height": 224, "width": 224}))
        resample = integer(get("resample", 2), FILE, "resample", 0, max(_RESAMPLE_NAMES))
        std = _triple(get("image_std", (0.5, 0.5, 0.5)), "image_std")
        if any(s == 0 for s in std):
            raise ConfigValueError(FILE, "image_std", f"contains 0 ({list(std)})")
        return cls(
            height=height,
            width=width,
            resample=resample,
            do_resize=flag(get("do_resize", True), FILE, "do_resize"),
            do_rescale=flag(get("do_rescale", True), FILE, "do_rescale"),
            rescale_factor=number(get("rescale_factor", 1 / 255), FILE, "rescale_factor"),
            do_normalize=flag(get("do_normalize", True), FILE, "do_normalize"),
            image_mean=_triple(get("image_mean", (0.5, 0.5, 0.5)), "image_mean"),
            image_std=std,
        )


def _size(size: Any) -> tuple[int, int]:
    if isinstance(size, Mapping):
        if "height" in size and "width" in size:
            keys = ("height", "width")
        elif "shortest_edge" in size:
            keys = ("shortest_edge", "shortest_edge")
        else:
            raise ConfigValueError(
                FILE, "size", f"needs height and width, got {sorted(map(str, size))}"
            )
        h, w = (integer(size[k], FILE, f"size.{k}", 1, MAX_IMAGE_SIDE) for k in keys)
        return h, w
    side = integer(size, FILE, "size", 1, MAX_IMAGE_SIDE)
    return side, side


def _triple(value: Any, key: str) -> tuple[float, float, float]:
    if not isinstance(value, (list, tuple)):
        return (number(value, FILE, key),) * 3
    if len(value) != 3:
        raise ConfigValueError(FILE, key, f"needs 3 values, got {len(value)}")
    a, b, c = (number(v, FILE, f"{key}[{i}]") for i, v in enumerate(value))
    return a, b, c


def to_array(image: Image.Image | np.ndarray) -> np.ndarray:
    """An RGB PIL image or a uint8 ``H×W×3`` array as a uint8 ``H×W×3`` array."""
    if isinstance(image, Image.Image):
        if image.mode != "RGB":
            raise ValueError(f"preprocess needs RGB images, got mode {image.mode} (use load_image)")
        return np.asarray(image)
    arr = np.asarray(image)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"preprocess needs uint8 H×W×3 arrays, got {arr.dtype} {arr.shape}")
    return arr


def preprocess_one(image: Image.Image | np.ndarray, cfg: PreprocessConfig) -> np.ndarray:
    """One image to float32 ``[3, H, W]``."""
    if cfg.do_resize:
        pil = image if isinstance(image, Image.Image) else Image.fromarray(to_array(image))
        if pil.mode != "RGB":
            to_array(pil)  # raises the readable error
        resized = pil.resize((cfg.width, cfg.height), resample=cfg.resample, reducing_gap=None)
        arr: np.ndarray = np.asarray(resized)
    else:
        arr = to_array(image)
    if cfg.do_rescale:
        arr = (arr.astype(np.float64) * cfg.rescale_factor).astype(np.float32)
    elif not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float32)
    if cfg.do_normalize:
        mean = np.array(cfg.image_mean, dtype=arr.dtype)
        std = np.array(cfg.image_std, dtype=arr.dtype)
        arr = (arr - mean) / std
    return np.ascontiguousarray(arr.transpose(2, 0, 1), dtype=np.float32)


def preprocess(
    images: Image.Image | np.ndarray | Iterable[Image.Image | np.ndarray], cfg: PreprocessConfig
) -> np.ndarray:
    """RGB images (PIL or uint8 ``H×W×3``) to float32 ``[N, 3, H, W]`` for the encoder."""
    if isinstance(images, Image.Image) or (isinstance(images, np.ndarray) and images.ndim == 3):
        batch: Sequence[Image.Image | np.ndarray] = [images]
    else:
        batch = list(images)
    if not batch:
        return np.zeros((0, 3, cfg.height, cfg.width), dtype=np.float32)
    out = [preprocess_one(im, cfg) for im in batch]
    shapes = {a.shape for a in out}
    if len(shapes) != 1:  # only possible with do_resize false
        raise ValueError(f"images of different sizes cannot form one batch: {sorted(shapes)}")
    return np.stack(out)


def check_pixel_values(pixel_values: Any, cfg: PreprocessConfig) -> np.ndarray:
    """A caller's pixel values as the encoder takes them: float32 ``[1, 3, H, W]`` (H, W from
    ``cfg``), finite. Anything else raises ``RequestError`` (a ``ValueError``) naming the
    expected shape, before any session runs."""
    from .errors import RequestError

    want = f"float [1, 3, {cfg.height}, {cfg.width}]"
    arr = np.asarray(pixel_values) if not isinstance(pixel_values, np.ndarray) else pixel_values
    if arr.dtype.kind != "f":
        raise RequestError(f"pixel values must be {want} (from prepare()), got dtype {arr.dtype}")
    if arr.shape != (1, 3, cfg.height, cfg.width):
        raise RequestError(
            f"pixel values must be {want} (from prepare()), got shape {list(arr.shape)}"
        )
    out = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.isfinite(out).all():
        raise RequestError("pixel values contain NaN or infinite numbers")
    return out
