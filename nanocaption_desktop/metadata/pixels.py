"""The last check before a photo is replaced: the new bytes decode to the very same pixels.

Pillow decodes both (it never writes anything here). A file that declares more pixels than
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


def _digest(data: bytes, name: str, which: str) -> tuple[str, tuple[int, int], int, str]:
    """(mode, size, frames, SHA-256 of every frame's pixels) of one version of the file."""
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


def check_same_pixels(old: bytes, new: bytes, name: str) -> None:
    """Raise ``MetadataError`` unless ``new`` decodes to exactly ``old``'s pixels (mode, size,
    every frame's bytes)."""
    before = _digest(old, name, "the original")
    after = _digest(new, name, "the new")
    if before[:3] != after[:3]:
        raise MetadataError(
            name, f"the new file decodes as {after[0]} {after[1]}, not {before[0]} {before[1]}"
        )
    if before[3] != after[3]:
        raise MetadataError(name, "the new file decodes to different pixels")
