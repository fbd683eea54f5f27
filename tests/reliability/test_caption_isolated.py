"""`caption` decodes untrusted files in the decode pool's capped worker, like `batch` and the
window: a decompression-bomb-ish PNG (small file, huge within the pixel limit) costs one failed
line under the memory cap, not the command's memory (it took 1.2 GB in-process before)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from fixture_paths import TINY_BUNDLE
from hostile_files import big_gray_png

from nanocaption_desktop import cli
from nanocaption_desktop.engine import isolation

GOOD = Path(__file__).resolve().parents[1] / "fixtures" / "images" / "gradient.png"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS is enforced on Linux")
def test_caption_decodes_in_a_capped_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    procs: list = []

    class SmallPool(isolation.DecodePool):  # the real pool with a 96 MB cap instead of 1536
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **{**kwargs, "memory_mb": 96})  # type: ignore[arg-type]
            procs.extend(w.proc for w in self._all)

    monkeypatch.setattr(isolation, "DecodePool", SmallPool)
    huge = tmp_path / "huge.png"
    huge.write_bytes(big_gray_png(9000, 9000))  # 81 Mpx: 243 MB as RGB, under the pixel limit
    assert huge.stat().st_size < 200_000

    code = cli.main(["caption", str(huge), str(GOOD), "--model", str(TINY_BUNDLE)])
    out, err = capsys.readouterr()
    assert code == 1
    assert err.strip() == f"nanocaption-desktop: {huge}: could not decode: needs more than 96 MB"
    assert out.startswith(f"{GOOD}\t") and out.count("\n") == 1  # the next file still captioned
    assert procs and not any(p.is_alive() for p in procs)  # the pool was used, and closed
