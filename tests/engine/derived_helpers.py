"""Helpers shared by the tests of derived copies (test_derived_*.py)."""

from __future__ import annotations

from pathlib import Path

from nanocaption_desktop.engine import Captioner, derive
from nanocaption_desktop.engine.bundle import Bundle


def encoder_shipped_alone(bundle: Path) -> Path:
    """The tiny bundle's encoder copy, derived and shipped without its stock graph (as
    packaging/build.py ships it), sound and used; returns the copy's graph file."""
    source = Bundle.open(bundle).encoder
    copy = derive.derived_encoder(source)
    assert copy is not None
    derive.mark_shipped_alone(source)
    source.unlink()
    assert Captioner.load(bundle).encoder_file == copy  # sound: used
    return copy
