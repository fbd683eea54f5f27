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

log = logging.getLogger(__name__)

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
        Raises ``ValueError`` naming the bad key.
        """
        height, width = _size(d.get("size", {"height": 224, "width": 224}))
        resample = d.get("resample", 2)
        if resample is None:
            resample = 2
        if isinstance(resample, bool) or int(resample) not in _RESAMPLE_NAMES:
            raise ValueError(f"preprocessor_config: unknown resample {resample!r}")
        mean = _triple(d.get("image_mean", (0.5, 0.5, 0.5)), "image_mean")
        std = _triple(d.get("image_std", (0.5, 0.5, 0.5)), "image_std")
        if any(s == 0 for s in std):
            raise ValueError("preprocessor_config: image_std contains 0")
        return cls(
            height=height,
            width=width,
            resample=int(resample),
            do_resize=bool(d.get("do_resize", True)),
            do_rescale=bool(d.get("do_rescale", True)),
            rescale_factor=float(d.get("rescale_factor", 1 / 255)),
            do_normalize=bool(d.get("do_normalize", True)),
            image_mean=mean,
            image_std=std,
        )


def _size(size: Any) -> tuple[int, int]:
    if isinstance(size, bool):
        raise ValueError(f"preprocessor_config: bad size {size!r}")
    if isinstance(size, (int, float)) and size > 0:
        return int(size), int(size)
    if isinstance(size, Mapping):
        if "height" in size and "width" in size:
            h, w = int(size["height"]), int(size["width"])
        elif "shortest_edge" in size:
            h = w = int(size["shortest_edge"])
        else:
            raise ValueError(f"preprocessor_config: size needs height and width, got {dict(size)}")
        if h > 0 and w > 0:
            return h, w
    raise ValueError(f"preprocessor_config: bad size {size!r}")


def _triple(value: Any, key: str) -> tuple[float, float, float]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (float(value),) * 3  # type: ignore[return-value]
    items = [float(v) for v in value]
    if len(items) != 3:
        raise ValueError(f"preprocessor_config: {key} needs 3 values, got {len(items)}")
    return items[0], items[1], items[2]


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
