"""Random junk and damaged files: every walker raises MetadataError (or DoesNotFit), never
another exception, and always ends (each loop advances; Hypothesis would hang otherwise)."""

from __future__ import annotations

import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from make_meta_fixtures import exif_block, jpeg, packet, png_with_xmp_after_idat, segment, webp
from PIL import Image

from nanocaption_desktop.ground.errors import MetadataError
from nanocaption_desktop.metadata.containers import (
    Change,
    DoesNotFit,
    iim,
    module_for,
    tiffblock,
)
from nanocaption_desktop.metadata.containers import jpeg as jpeg_module
from nanocaption_desktop.metadata.containers import png as png_module
from nanocaption_desktop.metadata.containers import tiff as tiff_module
from nanocaption_desktop.metadata.containers import webp as webp_module

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CHANGE = Change(xmp=packet("fuzz"), exif_description="d", iim_caption="c")


def _tiff() -> bytes:
    buf = io.BytesIO()
    Image.new("L", (8, 8), 7).save(buf, "TIFF")
    return buf.getvalue()


VALID = {
    "jpeg": jpeg(segment(0xE1, b"Exif\0\0" + exif_block("canon"))),
    "png": png_with_xmp_after_idat(),
    "webp": webp("extended"),
    "tiff": _tiff(),
}
MODULES = {"jpeg": jpeg_module, "png": png_module, "webp": webp_module, "tiff": tiff_module}


def _exercise(module: object, data: bytes) -> None:
    """extract, embed and check: only our two errors may come out."""
    try:
        module.extract(data, "fuzz")  # type: ignore[attr-defined]
        new = module.embed(data, CHANGE, "fuzz")  # type: ignore[attr-defined]
        module.check_lossless(data, new, "fuzz")  # type: ignore[attr-defined]
    except (MetadataError, DoesNotFit):
        pass


@FUZZ
@given(kind=st.sampled_from(sorted(MODULES)), junk=st.binary(max_size=300))
def test_random_bytes_after_a_valid_magic(kind: str, junk: bytes) -> None:
    head = VALID[kind][:16]
    _exercise(MODULES[kind], head + junk)
    _exercise(MODULES[kind], junk)


@FUZZ
@given(
    kind=st.sampled_from(sorted(MODULES)),
    edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=6),
    cut=st.integers(0, 10**6),
)
def test_damaged_valid_files(kind: str, edits: list[tuple[int, int]], cut: int) -> None:
    data = bytearray(VALID[kind])
    for at, value in edits:
        data[at % len(data)] = value
    damaged = bytes(data[: max(8, cut % (len(data) + 1))])
    _exercise(MODULES[kind], damaged)
    module = module_for(damaged)
    if module is not None:
        _exercise(module, damaged)


@FUZZ
@given(junk=st.binary(max_size=400))
def test_iim_and_resources_and_tiff_blocks(junk: bytes) -> None:
    for call in (
        lambda: iim.read_datasets(b"\x1c" + junk, "fuzz"),
        lambda: iim.set_caption(b"\x1c" + junk, "c", "fuzz"),
        lambda: iim.set_caption_in_resources(b"8BIM" + junk, "c", "fuzz"),
        lambda: tiffblock.text(b"II*\0" + junk, "fuzz"),
        lambda: tiffblock.set_tags(b"MM\0*" + junk, {270: (2, b"abcdef\0")}, "fuzz", "EXIF"),
    ):
        try:
            call()
        except MetadataError:
            pass
