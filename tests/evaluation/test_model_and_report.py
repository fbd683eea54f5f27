"""--model through the batch runner (resumed after a stop), and the HTML report in Chromium."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from fixture_paths import EVALUATE_DIR, IMAGES_DIR
from PIL import Image

from nanocaption_desktop.evaluation import evaluate
from nanocaption_desktop.evaluation.report import render, write

pytest.importorskip("pycocoevalcap")
REFS = EVALUATE_DIR / "captions.txt"


class _Stop(Exception):
    pass


def test_a_stopped_evaluation_resumes_where_it_was(tmp_path, tiny_bundle):
    seen = []

    def stop_after_two(result):
        seen.append(result.relpath)
        if len(seen) == 2:
            raise _Stop  # as a kill would: the journal holds what finished

    with pytest.raises(_Stop):
        evaluate(
            REFS,
            model=tiny_bundle,
            images=IMAGES_DIR,
            work=tmp_path / "w",
            java=False,
            progress=stop_after_two,
        )
    again = evaluate(REFS, model=tiny_bundle, images=IMAGES_DIR, work=tmp_path / "w", java=False)
    system = again.systems[0]
    assert system.resumed >= 2 and system.resumed + system.captioned == 6
    fresh = evaluate(REFS, model=tiny_bundle, images=IMAGES_DIR, work=tmp_path / "f", java=False)
    assert fresh.systems[0].resumed == 0 and fresh.systems[0].captioned == 6
    assert [r.candidate for r in system.images] == [r.candidate for r in fresh.systems[0].images]
    assert system.corpus == fresh.systems[0].corpus
    info = system.model
    assert info is not None and info.settings["beams"] >= 1
    names = {path for path, _size, _digest in info.files}
    assert "config.json" in names and any(n.endswith(".onnx") for n in names)


def test_a_model_needs_every_reference_image(tmp_path, tiny_bundle):
    from nanocaption_desktop.evaluation import EvaluationError

    (tmp_path / "imgs").mkdir()
    shutil.copy(IMAGES_DIR / "blocks.webp", tmp_path / "imgs")
    with pytest.raises(EvaluationError, match=r"no image file for 5 reference image\(s\)"):
        evaluate(REFS, model=tiny_bundle, images=tmp_path / "imgs", work=tmp_path, java=False)


def _hostile(tmp_path):
    preds = tmp_path / "p.jsonl"
    lines = (
        (EVALUATE_DIR / "predictions_b.jsonl")
        .read_text()
        .replace("a picture of a wall", "<script>alert(1)</script><img src=http://x.invalid/a.png>")
    )
    preds.write_text(lines, encoding="utf-8")
    return evaluate(REFS, predictions=[EVALUATE_DIR / "predictions_a.csv", preds], java=False)


def test_the_report_escapes_captions_and_needs_no_network(tmp_path):
    html = render(_hostile(tmp_path), IMAGES_DIR)
    assert "<script" not in html and "&lt;script&gt;" in html
    import re

    assert "<img src=http" not in html and "&lt;img src=http://x.invalid/a.png&gt;" in html
    sources = re.findall(r"""(?:src|href)=['"]([^'"]*)""", html)
    assert sources and all(s.startswith("data:image/jpeg;base64,") for s in sources)
    assert "default-src 'none'" in html  # the page itself forbids any request
    assert html.count("data:image/jpeg;base64,") == 2 * 2 * 6  # 2 systems, worst + best, 6 images
    assert "<svg" in html and "Per-image wins" in html and "Tokenization" in html


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium not installed")
def test_the_report_renders_in_headless_chromium(tmp_path):
    report = tmp_path / "report.html"
    write(report, _hostile(tmp_path), IMAGES_DIR)
    shot = tmp_path / "shot.png"
    done = subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--proxy-server=http://0.0.0.0:9",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=1000,1400",
            f"--screenshot={shot}",
            report.as_uri(),
        ],
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    with Image.open(shot) as image:
        colors = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colors is not None and len(colors) > 50  # text, bars and thumbnails, not a blank page


_KILLED = """
import os, signal, sys
from nanocaption_desktop import evaluate
done = []
def progress(result):
    done.append(result)
    if len(done) == 3:
        os.kill(os.getpid(), signal.SIGKILL)  # no cleanup at all, as a crash or `kill -9`
evaluate(sys.argv[1], model=sys.argv[2], images=sys.argv[3], work=sys.argv[4], java=False,
         progress=progress)
"""


def test_an_evaluation_killed_half_way_resumes_from_the_command_line(tmp_path, tiny_bundle, capsys):
    import json
    import signal
    import sys

    from nanocaption_desktop.cli import main

    work = tmp_path / "work"
    args = [str(REFS), str(tiny_bundle), str(IMAGES_DIR), str(work)]
    killed = subprocess.run([sys.executable, "-c", _KILLED, *args], capture_output=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode(errors="replace")
    cli = ["evaluate", str(REFS), "--model", str(tiny_bundle), "--images", str(IMAGES_DIR)]
    runs = {}
    for name, folder in (("resumed", work), ("fresh", tmp_path / "fresh")):
        assert main([*cli, "--work", str(folder), "--no-java", "--json"]) == 0
        runs[name] = json.loads(capsys.readouterr().out)["systems"][0]
    assert runs["resumed"]["resumed"] >= 3  # the killed run's captions, from its journal
    assert runs["resumed"]["resumed"] + runs["resumed"]["captioned"] == 6
    assert runs["fresh"]["resumed"] == 0 and runs["fresh"]["captioned"] == 6
    assert runs["resumed"]["images"] == runs["fresh"]["images"]
    assert runs["resumed"]["corpus"] == runs["fresh"]["corpus"]
