"""Safe image loading: any supported file becomes an upright RGB image, or an ``ImageError``.

Policy (issue 7): only an allow-list of formats is parsed (JPEG, PNG, WebP, GIF, BMP, TIFF, and
AVIF/HEIF when this Pillow build or a registered plugin reads them); EPS/PS/PDF and the rest
are refused by name (EPS would start Ghostscript). The pixel limit is ours, in megapixels
(``max_megapixels``, default ``limits.DEFAULT_MAX_MEGAPIXELS``), checked on the header's size
before any pixel is decoded; a JPEG larger than ``limits.JPEG_FULL_DECODE_PIXELS`` is decoded at
1/2, 1/4 or 1/8 scale in libjpeg (Pillow's ``draft``), never below the size the caller needs,
and the limit applies to what is decoded. Pillow's own decompression-bomb warning stays an
error for one call; global Pillow settings are never changed. Truncated
files are errors, never half images. EXIF orientation is applied, animations give their first
frame, every mode becomes RGB (transparency over white, 16-bit and float scaled to 8-bit).
Whatever goes wrong becomes ``ImageError(source_name, readable reason)``.
"""

from __future__ import annotations

import contextlib
import errno
import io
import logging
import os
import stat
import struct
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from .errors import ImageError, RequestError
from .limits import DEFAULT_MAX_MEGAPIXELS, JPEG_FULL_DECODE_PIXELS, MAX_MEGAPIXELS, MIN_MEGAPIXELS

log = logging.getLogger(__name__)

PathSource = str | os.PathLike[str] | os.PathLike[bytes]
ImageSource = PathSource | bytes | bytearray | memoryview | IO[bytes] | Image.Image

_BASE_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
_OPTIONAL_FORMATS = ("AVIF", "HEIF")  # only when a plugin for them is registered

# Magic numbers of formats we refuse, so the message can name them instead of "not an image".
_REFUSED_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%!PS-Adobe", "EPS/PostScript"), (b"%!", "PostScript"), (b"\xc5\xd0\xd3\xc6", "EPS"),
    (b"%PDF", "PDF"), (b"8BPS", "PSD"), (b"\x00\x00\x01\x00", "ICO"), (b"DDS ", "DDS"),
    (b"icns", "ICNS"), (b"\x00\x00\x00\x0cjP  ", "JPEG 2000"), (b"\xff\x4f\xff\x51", "JPEG 2000"),
    # allowed formats whose header Pillow rejected:
    (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"), (b"\x89PNG", "PNG"), (b"GIF8", "GIF"),
    (b"\xff\xd8\xff", "JPEG"),
)  # fmt: skip

# warnings.catch_warnings() swaps process-global state; two threads nesting it can leave the
# filters changed for good. Serialize the guarded section (the DecodePool gets parallelism from
# processes instead).
_GUARD = threading.Lock()


_HEIF_REGISTERED = False


def _register_heif() -> None:
    """Register pi-heif's HEIF opener once, on first use (pi-heif: decode-only libheif and
    libde265, LGPL-3.0, no x265; importing it costs ~20 ms, so not at package import)."""
    global _HEIF_REGISTERED
    if _HEIF_REGISTERED:
        return
    _HEIF_REGISTERED = True
    try:
        import pi_heif

        pi_heif.register_heif_opener()
    except Exception as e:  # not installed or no wheel for this system: HEIF is refused by name
        log.info("HEIF/HEIC support is not available (%s)", e)


def allowed_formats() -> tuple[str, ...]:
    """The Pillow format names ``load_image`` parses, in the order they are tried."""
    Image.init()
    _register_heif()
    extra = tuple(f for f in _OPTIONAL_FORMATS if f in Image.OPEN)
    return _BASE_FORMATS + extra


def checked_megapixels(value: float | None) -> float:
    """A caller's image size limit (None: the default), or `RequestError` when out of range."""
    if value is None:
        return DEFAULT_MAX_MEGAPIXELS
    try:
        mp = float(value)
    except (TypeError, ValueError):
        mp = float("nan")
    if not MIN_MEGAPIXELS <= mp <= MAX_MEGAPIXELS:  # also refuses NaN
        raise RequestError(
            f"max_megapixels must be between {MIN_MEGAPIXELS:g} and {MAX_MEGAPIXELS:g}, "
            f"not {value!r}"
        )
    return mp


def source_name(source: object) -> str:
    """A printable name for ``source`` in messages (non-UTF-8 paths get ``\\x`` escapes)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return "<bytes>"
    if isinstance(source, (str, os.PathLike)):
        return _printable(os.fsdecode(source))
    if isinstance(source, Image.Image):
        filename = getattr(source, "filename", "")
        return _printable(os.fsdecode(filename)) if filename else "<image>"
    name = getattr(source, "name", None)
    if isinstance(name, (str, bytes)) and name:
        return _printable(os.fsdecode(name))
    return "<file>"


def _printable(text: str) -> str:
    try:  # undo surrogateescape, then show the bytes that are not UTF-8 as \xNN
        return os.fsencode(text).decode("utf-8", "backslashreplace")
    except UnicodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def load_image(
    source: ImageSource,
    *,
    name: str | None = None,
    at_least: int | None = None,
    need: int = 224,
    max_megapixels: float | None = None,
) -> Image.Image:
    """Decode ``source`` (path, bytes, binary file object or PIL image) to an upright RGB image.

    ``bytes`` are the file's contents, never a file name (pass ``os.fsdecode(name)`` or a Path).
    Raises ``ImageError(name, reason)`` for every failure, never another exception type.
    ``at_least``: for previews only, a JPEG may be decoded at 1/2, 1/4 or 1/8 scale as long as
    both sides stay at least this long (much faster for a large photo; never for captioning,
    whose preprocessing must see the full image).
    ``need``: the side the caller needs at least (the model's input size); only a JPEG over
    ``JPEG_FULL_DECODE_PIXELS`` is decoded smaller, never below it. ``max_megapixels``: the
    largest image decoded (default ``DEFAULT_MAX_MEGAPIXELS``).
    """
    label = name if name is not None else source_name(source)
    shrink = _Shrink(at_least, max(need, at_least or 0), max_megapixels)
    try:
        if isinstance(source, Image.Image):
            with _guarded():
                return _finish(source, label)
        if isinstance(source, (bytes, bytearray, memoryview)):
            data = bytes(source)
            if not data:
                raise ImageError(label, "empty data (0 bytes)")
            return _decode(io.BytesIO(data), label, shrink)
        if isinstance(source, (str, os.PathLike)):
            return _load_path(source, label, shrink)
        if hasattr(source, "read"):
            return _decode(source, label, shrink)
        raise ImageError(label, f"cannot read an image from a {type(source).__name__}")
    except ImageError:
        raise
    except Exception as e:  # the contract: nothing but ImageError leaves this function
        raise ImageError(label, _reason(e)) from e


def _load_path(path: PathSource, label: str, shrink: _Shrink) -> Image.Image:
    fspath = os.fspath(path)
    try:
        if os.path.isdir(fspath):  # Windows would say "permission denied" for a folder
            raise ImageError(label, "is a folder, not a file")
        if os.path.exists(fspath) and not stat.S_ISREG(os.stat(fspath).st_mode):
            raise ImageError(label, "not a regular file (a pipe, socket or device)")  # open blocks
        fp = open(fspath, "rb")  # noqa: SIM115 - closed below
    except OSError as e:
        raise ImageError(label, _os_reason(e)) from e
    with fp:
        if os.fstat(fp.fileno()).st_size == 0:
            raise ImageError(label, "empty file (0 bytes)")
        return _decode(fp, label, shrink)


@contextlib.contextmanager
def _guarded() -> Iterator[None]:
    """Pillow's decompression-bomb warning is an error inside this block, and only here.

    Other warnings are recorded and logged, so a file decodes the same under any warning filter.
    """
    with _GUARD, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            yield
        finally:  # Pillow's other warnings (corrupt EXIF, odd chunks) go to the log
            for w in caught:
                log.debug("Pillow: %s", w.message)


@dataclass(frozen=True)
class _Shrink:
    at_least: int | None  # a preview: any JPEG may be scaled down to this
    need: int  # every JPEG over JPEG_FULL_DECODE_PIXELS may be scaled down to this
    max_megapixels: float | None

    @property
    def max_pixels(self) -> int:
        mp = DEFAULT_MAX_MEGAPIXELS if self.max_megapixels is None else self.max_megapixels
        return int(mp * 1_000_000)

    def target(self, w: int, h: int) -> int | None:
        """The side a JPEG of ``w``×``h`` may be scaled down to (None: full size)."""
        if self.at_least and min(w, h) >= 2 * self.at_least:
            return self.at_least
        if w * h > JPEG_FULL_DECODE_PIXELS and min(w, h) >= 2 * self.need:
            return self.need
        return None


def _open(fp: IO[bytes]) -> ImageFile.ImageFile:
    """``Image.open`` over our allowed formats, without its global pixel check (ours is
    ``max_megapixels``, applied to what is decoded): the header is read, no pixel."""
    fp.seek(0)
    prefix = fp.read(16)
    for fmt in allowed_formats():
        factory, accept = Image.OPEN[fmt]
        accepted = accept is None or accept(prefix)
        if accepted and not isinstance(accepted, str):
            fp.seek(0)
            try:
                return factory(fp, "")  # type: ignore[no-any-return]
            except (SyntaxError, IndexError, TypeError, struct.error):
                continue  # what Image.open does: try the next format
    raise UnidentifiedImageError("cannot identify image file")


def _decode(fp: IO[bytes], label: str, shrink: _Shrink) -> Image.Image:
    limit = shrink.max_pixels
    with _guarded():
        try:
            img = _open(fp)
        except UnidentifiedImageError as e:
            raise ImageError(label, _unidentified_reason(fp)) from e
        w, h = img.size  # no `with img`: the result may be `img` itself; the caller owns `fp`
        if w <= 0 or h <= 0:
            raise ImageError(label, f"the image has no pixels ({w}×{h})")
        side = shrink.target(w, h) if img.format == "JPEG" else None
        if side is not None:
            img.draft(img.mode, (side, side))  # scaled in the DCT, never below `side`
        if img.size[0] * img.size[1] > limit:
            raise ImageError(label, _too_large((w, h), limit))
        try:
            img.seek(0)
            img.load()
        except (Image.DecompressionBombWarning, Image.DecompressionBombError) as e:
            raise ImageError(label, _too_large(img.size, limit)) from e
        return _finish(img, label, own=True)


def _finish(img: Image.Image, label: str, *, own: bool = False) -> Image.Image:
    """Load, apply EXIF orientation, convert to RGB. Unless ``own``, ``img`` is left untouched.

    Copies are made only when needed: a huge upright RGB image is returned as decoded."""
    if img.format == "EPS":
        raise ImageError(label, "unsupported format EPS (it would run Ghostscript)")
    w, h = img.size  # a caller's PIL image gets the rules a file gets
    if w <= 0 or h <= 0:
        raise ImageError(label, f"the image has no pixels ({w}×{h})")
    img.load()
    upright = img
    try:
        if img.getexif().get(0x0112, 1) in (2, 3, 4, 5, 6, 7, 8):
            upright = ImageOps.exif_transpose(img)
    except Exception as e:  # a broken EXIF block should not cost the caption
        log.warning("%s: ignoring unreadable EXIF orientation (%s)", label, e)
    rgb = to_rgb(upright, label)
    return rgb.copy() if rgb is img and not own else rgb


def to_rgb(img: Image.Image, label: str = "<image>") -> Image.Image:
    """Any Pillow mode to 8-bit RGB; transparency is composited over white."""
    mode = img.mode
    if mode == "RGB" and "transparency" not in img.info:
        return img
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        return _wide_to_rgb(img)
    has_alpha = mode in ("RGBA", "RGBa", "LA", "La", "PA") or "transparency" in img.info
    if mode == "P" and not has_alpha:
        return img.convert("RGB")
    if mode == "La":  # premultiplied: Pillow converts it to LA only (un-premultiplied)
        img, mode = img.convert("LA"), "LA"
    if has_alpha:
        rgba = img if mode == "RGBA" else img.convert("RGBA")
        out = Image.new("RGB", rgba.size, (255, 255, 255))  # same pixels as alpha_composite,
        out.paste(rgba, mask=rgba.getchannel("A"))  # less memory
        return out
    try:  # L, 1, CMYK, YCbCr, HSV, ...
        return img.convert("RGB")
    except (ValueError, OSError) as e:
        raise ImageError(label, f"unsupported colour mode {mode}") from e


def _wide_to_rgb(img: Image.Image) -> Image.Image:
    """16-bit, 32-bit integer and float images to 8 bits, keeping the tonal range."""
    arr = np.asarray(img)
    scaled: np.ndarray
    if img.mode == "F":
        arr = np.nan_to_num(arr.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        lo, hi = float(arr.min()), float(arr.max())
        if lo >= 0.0 and hi <= 1.0:
            scaled = arr * 255.0
        elif lo >= 0.0 and hi <= 255.0:
            scaled = arr
        else:
            scaled = (arr - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(arr)
    else:
        wide = arr.astype(np.int64)
        lo, hi = int(wide.min()), int(wide.max())
        if lo >= 0 and hi <= 65535:  # 16-bit data (Pillow opens 16-bit PNG/TIFF as I;16 or I)
            scaled = wide / 257.0
        else:
            scaled = (wide - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros(wide.shape)
    gray = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
    return Image.fromarray(gray).convert("RGB")


def _too_large(size: tuple[int, int], limit: int) -> str:
    w, h = size
    return (
        f"image too large: {w}×{h} pixels ({_mp(w * h)} megapixels) is over the limit of "
        f"{_mp(limit)} megapixels (a setting: the largest image to read)"
    )


def _mp(pixels: int) -> str:
    return f"{pixels / 1_000_000:.1f}".removesuffix(".0")


def _unidentified_reason(fp: IO[bytes]) -> str:
    try:
        fp.seek(0)
        head = fp.read(64)
    except Exception:
        head = b""
    stripped = head.lstrip()
    for magic, fmt in _REFUSED_MAGIC:
        if stripped.startswith(magic):
            if fmt in allowed_formats():  # a known magic number with a broken header
                return f"the {fmt} header is damaged"
            return f"unsupported format {fmt}"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        fmt = "AVIF" if brand in (b"avif", b"avis") else "HEIF"
        if fmt in allowed_formats():
            return f"the {fmt} file is damaged or uses a feature this build cannot read"
        return f"unsupported format {fmt} (this build cannot read it)"
    return "not an image (or a format we do not read)"


_ERRNO_REASONS = {
    errno.ENOENT: "file not found",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EISDIR: "is a folder, not a file",
    errno.ENOTDIR: "a part of the path is not a folder",
    errno.ENAMETOOLONG: "the file name or path is too long",
    errno.ELOOP: "too many levels of symbolic links (a link loop?)",
    errno.EIO: "read error (input/output error)",
}


def _os_reason(e: OSError) -> str:
    if e.errno in _ERRNO_REASONS:
        return _ERRNO_REASONS[e.errno]
    return f"could not read the file ({e.strerror or e})"


def _reason(e: BaseException) -> str:
    """A readable reason for an exception raised while decoding."""
    if isinstance(e, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
        return f"image too large: {e}"
    if isinstance(e, MemoryError):
        return "not enough memory to decode this image"
    if isinstance(e, OSError) and e.errno is not None:
        return _os_reason(e)
    text = str(e)
    if isinstance(e, (OSError, SyntaxError, EOFError, ValueError, IndexError, KeyError)) or (
        type(e).__name__ == "error"  # struct.error, zlib.error
    ):
        if "truncated" in text or isinstance(e, EOFError):
            return "the file is truncated or damaged"
        return f"the file is truncated or damaged ({text})" if text else "the file is damaged"
    return f"could not decode ({type(e).__name__}: {text})"
