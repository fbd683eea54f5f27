"""The last check before a photo is replaced: the new bytes decode to the very same pixels.

Pillow decodes both (it never writes anything here). ``reduced=True`` (JPEG, after
``jpeg.check_lossless`` passed) decodes both at 1/8 scale (Pillow's ``draft``: libjpeg's DCT
scaling). That is as strong there: the check proved the scan data (from the first SOS to the end
of the file) and every segment we do not own (DQT, DHT, SOFn, DRI, APP14 Adobe, ICC, JFIF...)
byte-identical and in the same order, and the owned ones (XMP, EXIF, Photoshop APPn) carry no
decoding parameter; the reduced decode still parses every header and entropy-decodes the whole
scan, so it proves that the new file decodes, at about 1/17 of the cost (1.6 s of a 12 MP
JPEG's 1.7 s write went to the two full decodes). A file that declares more pixels than
Pillow's decompression-bomb limit (``Image.MAX_IMAGE_PIXELS``, the limit the engine keeps) is
refused before it is decoded, so a hostile file costs no memory.
"""

from __future__ import annotations

import hashlib
import io
import warnings

from PIL import Image, UnidentifiedImageError

from ..ground.errors import MetadataError

#: Without Pillow's limit (set to None by a caller), still refuse past this many pixels.
FALLBACK_LIMIT = 178_956_970  # Pillow's own default: 2 x 89,478,485


def _digest(
    data: bytes, name: str, which: str, reduced: bool = False
) -> tuple[str, tuple[int, int], int, str]:
    """(mode, size, frames, SHA-256 of every frame's pixels) of one version of the file; at
    1/8 scale with ``reduced`` (a JPEG)."""
    limit = Image.MAX_IMAGE_PIXELS or FALLBACK_LIMIT
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                w, h = img.size
                if w * h > limit:
                    raise MetadataError(
                        name, f"{which} image is {w}×{h}, over the {limit:,}-pixel limit"
                    )
                if reduced and img.format == "JPEG":
                    img.draft(img.mode, (max(1, w // 8), max(1, h // 8)))
                frames = getattr(img, "n_frames", 1)
                sha = hashlib.sha256()
                for i in range(frames):
                    img.seek(i)
                    img.load()
                    sha.update(img.tobytes())
                return img.mode, img.size, frames, sha.hexdigest()
    except MetadataError:
        raise
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as e:
        raise MetadataError(name, f"{which} image is over the pixel limit: {e}") from e
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as e:
        raise MetadataError(name, f"{which} image does not decode: {e}") from e


def check_same_pixels(old: bytes, new: bytes, name: str, *, reduced: bool = False) -> None:
    """Raise ``MetadataError`` unless ``new`` decodes to exactly ``old``'s pixels (mode, size,
    every frame's bytes); ``reduced``: both at 1/8 scale (a JPEG whose ``check_lossless``
    passed: see the module)."""
    before = _digest(old, name, "the original", reduced)
    after = _digest(new, name, "the new", reduced)
    if before[:3] != after[:3]:
        raise MetadataError(
            name, f"the new file decodes as {after[0]} {after[1]}, not {before[0]} {before[1]}"
        )
    if before[3] != after[3]:
        raise MetadataError(name, "the new file decodes to different pixels")
