"""Safe image loading: any supported file becomes an upright RGB image, or an ``ImageError``.

Policy (issue 7): only an allow-list of formats is parsed (JPEG, PNG, WebP, GIF, BMP, TIFF, and
AVIF/HEIF when this Pillow build reads them); EPS/PS/PDF and the rest are refused by name (EPS
would start Ghostscript). Pillow's decompression-bomb limit (``Image.MAX_IMAGE_PIXELS``) is kept
and its warning is an error for one call; global Pillow settings are never changed. Truncated
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
import threading
import warnings
from collections.abc import Iterator
from typing import IO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageError

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


def allowed_formats() -> tuple[str, ...]:
    """The Pillow format names ``load_image`` parses, in the order they are tried."""
    Image.init()
    extra = tuple(f for f in _OPTIONAL_FORMATS if f in Image.OPEN)
    return _BASE_FORMATS + extra


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
    source: ImageSource, *, name: str | None = None, at_least: int | None = None
) -> Image.Image:
    """Decode ``source`` (path, bytes, binary file object or PIL image) to an upright RGB image.

    ``bytes`` are the file's contents, never a file name (pass ``os.fsdecode(name)`` or a Path).
    Raises ``ImageError(name, reason)`` for every failure, never another exception type.
    ``at_least``: for previews only, a JPEG may be decoded at 1/2, 1/4 or 1/8 scale as long as
    both sides stay at least this long (much faster for a large photo; never for captioning,
    whose preprocessing must see the full image).
    """
    label = name if name is not None else source_name(source)
    try:
        if isinstance(source, Image.Image):
            with _guarded():
                return _finish(source, label)
        if isinstance(source, (bytes, bytearray, memoryview)):
            data = bytes(source)
            if not data:
                raise ImageError(label, "empty data (0 bytes)")
            return _decode(io.BytesIO(data), label, at_least)
        if isinstance(source, (str, os.PathLike)):
            return _load_path(source, label, at_least)
        if hasattr(source, "read"):
            return _decode(source, label, at_least)
        raise ImageError(label, f"cannot read an image from a {type(source).__name__}")
    except ImageError:
        raise
    except Exception as e:  # the contract: nothing but ImageError leaves this function
        raise ImageError(label, _reason(e)) from e


def _load_path(path: PathSource, label: str, at_least: int | None = None) -> Image.Image:
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
        return _decode(fp, label, at_least)


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


def _decode(fp: IO[bytes], label: str, at_least: int | None = None) -> Image.Image:
    limit = Image.MAX_IMAGE_PIXELS
    with _guarded():
        try:
            img = Image.open(fp, formats=list(allowed_formats()))
        except UnidentifiedImageError as e:
            raise ImageError(label, _unidentified_reason(fp)) from e
        except (Image.DecompressionBombWarning, Image.DecompressionBombError) as e:
            raise ImageError(label, _too_large(_declared_size(fp), limit)) from e
        w, h = img.size  # no `with img`: the result may be `img` itself; the caller owns `fp`
        if limit is not None and w * h > limit:
            raise ImageError(label, _too_large((w, h), limit))
        if w <= 0 or h <= 0:
            raise ImageError(label, f"the image has no pixels ({w}×{h})")
        if at_least and img.format == "JPEG" and min(w, h) >= 2 * at_least:
            img.draft(img.mode, (at_least, at_least))  # scaled in the DCT: a preview only
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


def _too_large(size: tuple[int, int] | None, limit: int | None) -> str:
    if size is None:
        return f"image too large: it exceeds the limit of {limit} pixels"
    w, h = size
    return f"image too large: {w}×{h} pixels exceeds the limit of {limit}"


def _declared_size(fp: IO[bytes]) -> tuple[int, int] | None:
    """The size a refused image declares, read from its header without the bomb check."""
    try:
        fp.seek(0)
        prefix = fp.read(16)
        for fmt in allowed_formats():
            factory, accept = Image.OPEN[fmt]
            accepted = accept is None or accept(prefix)
            if accepted and not isinstance(accepted, str):
                fp.seek(0)
                return tuple(factory(fp, "").size)  # type: ignore[return-value]
    except Exception:  # only for the message; the image is refused either way
        return None
    return None


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
        return "unsupported format HEIF/AVIF (this build cannot read it)"
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
