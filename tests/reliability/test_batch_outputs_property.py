"""Property: whatever output paths a batch is given (CSV, JSONL, journal, sidecars; inside or
outside the folder; symlinks, hard links, existing images, shared names, other case), no input
changes (bytes and mode) and no result is lost: either the batch is refused before any work
(``OutputError``/``ValueError`` from ``caption_folder``) or every image is in every requested output
exactly once, and every sidecar written holds its own image's caption.

A fast stand-in captioner (a caption from the file's bytes) keeps each example to milliseconds.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nanocaption_desktop.jobs import OutputError, caption_folder, read_csv, read_jsonl

IMAGES = Path(__file__).resolve().parents[1] / "fixtures" / "images"
SEEDS = sorted(p for p in IMAGES.iterdir())
TALLY: Counter[str] = Counter()


@dataclass(frozen=True)
class Cap:
    text: str
    score: float | None = -0.25
    seconds: float = 0.0
    error: str | None = None


class FastCaptioner:
    model_name = "fast"
    threads = 1

    def prepare(self, path, *, name=None):
        digest = hashlib.sha256(Path(path).read_bytes()).digest()
        return np.frombuffer(digest, dtype=np.uint8).astype(np.float32)[None]

    def caption_pixels(self, pixels, *, source="", beams=None, max_new_tokens=None, cancel=None):
        return Cap(f"caption of {source}")


IMAGE_NAMES = ["photo.jpg", "photo.png", "Photo.webp", "a.png", "b.bmp", "photo.jpg.png", "raw"]
#: Where an output may point (``{in}`` the photo folder, ``{out}`` a folder beside it).
TARGETS = [
    "{out}/o.csv",
    "{out}/o.jsonl",
    "{out}/o.csv.journal.jsonl",
    "{out}/O.CSV",
    "{out}/../out/o.csv",
    "{out}/new/o.jsonl",
    "{out}/link-to-image",
    "{out}/link-to-secret",
    "{out}/hardlink-to-image",
    "{in}/photo.jpg",
    "{in}/raw",
    "{in}/a.txt",
    "{in}/photo.txt",
    "{in}/captions.csv",
    "{in}/.x.csv.1.nctmp",
]
SIDECAR_TRAPS = ["none", "symlink", "fifo", "folder", "image-bytes", "existing"]


def build(base: Path, names: list[str], trap: str) -> tuple[Path, Path, Path]:
    folder, out = base / "in", base / "out"
    folder.mkdir()
    out.mkdir()
    for i, name in enumerate(names):
        shutil.copy(SEEDS[i % len(SEEDS)], folder / name)
    secret = base / "secret"
    secret.write_bytes(b"secret")
    os.chmod(secret, 0o4755)
    os.symlink(folder / names[0], out / "link-to-image")
    os.symlink(secret, out / "link-to-secret")
    os.link(folder / names[0], out / "hardlink-to-image")
    side = folder / "a.txt"
    if trap == "symlink":
        os.symlink(secret, side)
    elif trap == "fifo":
        os.mkfifo(side)
    elif trap == "folder":
        side.mkdir()
    elif trap == "image-bytes":
        shutil.copy(SEEDS[0], side)
    elif trap == "existing":
        side.write_text("tags\n")
    return folder, out, secret


def fingerprint(paths: list[Path]) -> dict[str, tuple[str, int]]:
    return {str(p): (hashlib.sha256(p.read_bytes()).hexdigest(), p.lstat().st_mode) for p in paths}


@pytest.fixture(scope="module", autouse=True)
def _report(figures):
    yield
    figures(
        "batch output paths property (fast captioner)",
        f"refused up front {TALLY['refused']}, ran {TALLY['ran']} "
        f"(sidecars refused per image {TALLY['sidecars failed']}); inputs changed 0, lost 0",
    )


@settings(
    max_examples=35,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    names=st.lists(st.sampled_from(IMAGE_NAMES), min_size=1, max_size=5, unique=True),
    csv=st.none() | st.sampled_from(TARGETS),
    jsonl=st.none() | st.sampled_from(TARGETS),
    journal=st.none() | st.sampled_from(TARGETS),
    sidecars=st.none() | st.sampled_from(["skip", "overwrite", "append"]),
    trap=st.sampled_from(SIDECAR_TRAPS),
)
def test_no_input_changes_and_no_result_is_lost(
    tmp_path_factory, names, csv, jsonl, journal, sidecars, trap
) -> None:
    if "a.png" not in names:
        names = [*names, "a.png"]  # the image whose sidecar (a.txt) holds the trap
    base = tmp_path_factory.mktemp("prop")
    os.environ["NANOCAPTION_DATA_DIR"] = str(base / "user-data")
    folder, out, secret = build(base, names, trap)
    inputs = [folder / n for n in names] + [secret]
    before = fingerprint(inputs)
    paths = {k: v.format(**{"in": folder, "out": out}) if v else None
             for k, v in (("csv", csv), ("jsonl", jsonl), ("journal", journal))}  # fmt: skip
    fast = FastCaptioner()
    try:
        it = caption_folder(folder, captioner=fast, sidecars=sidecars, isolate=False, **paths)
    except (OutputError, ValueError) as e:
        assert fingerprint(inputs) == before
        assert str(e).strip() and "\n" not in str(e)
        TALLY["refused"] += 1
        return
    results = list(it)
    assert fingerprint(inputs) == before
    assert not [p for p in base.rglob("*") if p.name.endswith(".nctmp")]
    assert sorted(r.relpath for r in results) == sorted(names)
    for key, reader in (("csv", read_csv), ("jsonl", read_jsonl)):
        if paths[key] is not None:
            rows = reader(paths[key])
            assert sorted(r["path"] for r in rows) == sorted(names)
            assert all(r["caption"] == f"caption of {r['path']}" for r in rows)
    if sidecars is not None:
        written: dict[Path, str] = {}
        for r in results:
            assert r.sidecar in ("written", "unchanged", "kept", "failed"), r
            if r.sidecar == "failed":
                assert r.error and "sidecar not written" in r.error
                continue
            candidates = [Path(r.path + ".txt"), Path(r.path).with_suffix(".txt")]
            hit = [c for c in candidates if c.is_file() and not c.is_symlink()]
            assert hit, r
            mine = f"caption of {r.relpath}\n".encode()
            chosen = next((c for c in hit if mine in c.read_bytes()), hit[0])
            assert chosen not in written, (chosen, written[chosen], r.relpath)
            written[chosen] = r.relpath
            if r.sidecar in ("written", "unchanged"):
                assert mine.rstrip() in chosen.read_bytes().splitlines()
            if sidecars == "overwrite" and r.sidecar == "written":
                assert chosen.read_bytes() == mine
    setuid = [p for p in folder.rglob("*") if p.lstat().st_mode & (stat.S_ISUID | stat.S_ISGID)]
    assert setuid == []
    TALLY["ran"] += 1
    TALLY["sidecars failed"] += sum(r.sidecar == "failed" for r in results)
