"""Helpers for the batch tests: a fast stand-in captioner and image folders."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from nanocaption_desktop.engine.errors import Cancelled
from nanocaption_desktop.engine.images import load_image

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
IMAGES = FIXTURES / "images"

TRICKY = [
    "a cat, a dog",
    'she said "hi"',
    "two\nlines",
    "emoji 🐱 and ünïcødé",
    '=HYPERLINK("http://x")',
    "+1 -1 @home",
    "'quoted",
]


@dataclass(frozen=True)
class FakeCaption:
    text: str
    token_ids: tuple[int, ...] = ()
    score: float | None = -0.5
    seconds: float = 0.0
    source: str = ""
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class FakeCaptioner:
    """Deterministic captions from the pixels; optional gate to pause inside a caption."""

    captions: list[str] = field(default_factory=lambda: list(TRICKY))
    model_name: str = "fake"
    calls: int = 0
    gate: threading.Event | None = None
    started: threading.Event = field(default_factory=threading.Event)

    def prepare(self, image, *, name=None):
        img = load_image(image, name=name).resize((8, 8))
        return np.asarray(img, dtype=np.float32).transpose(2, 0, 1)[None] / 255.0

    def caption_pixels(self, pixels, *, source="", beams=None, max_new_tokens=None, cancel=None):
        self.calls += 1
        self.started.set()
        if self.gate is not None:
            while not self.gate.wait(0.01):
                if cancel is not None and cancel.is_set():
                    raise Cancelled()
        digest = hashlib.sha256(np.ascontiguousarray(pixels).tobytes()).digest()
        text = self.captions[digest[0] % len(self.captions)]
        return FakeCaption(text, score=-(digest[1] / 255.0), source=source)


def make_images(folder: Path, n: int, *, prefix: str = "img", size: int = 16) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        p = folder / f"{prefix}{i}.png"
        Image.new("RGB", (size, size), ((i * 37) % 256, (i * 91) % 256, (i * 13) % 256)).save(p)
        out.append(p)
    return out
