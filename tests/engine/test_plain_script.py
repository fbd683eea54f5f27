"""The Python API from a plain script, `python -c` and a Jupyter-like `__main__` (issue 16).

Each case runs a real interpreter on a bundle installed by hand (no manifest, so the trust probe
runs in a spawned process) and with `caption_folder(isolate=True)` (decoding in spawned
workers). Before the fix, the spawned children re-ran a script without
`if __name__ == "__main__":` and the probe called the sound model damaged.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from fixture_paths import IMAGES_DIR, TINY_BUNDLE

SCRIPT = """\
from nanocaption_desktop import Captioner, caption_folder
print("top level ran")  # a spawned child re-running this would print it again
captioner = Captioner.load({bundle!r})
print("caption:", captioner.caption({image!r}).text)
for result in caption_folder({folder!r}, captioner=captioner, isolate=True):
    print("batch:", result.ok, os.path.basename(result.path))
"""


@pytest.fixture
def hand_installed(tmp_path: Path) -> Path:
    bundle = tmp_path / "bundle"
    shutil.copytree(TINY_BUNDLE, bundle)
    assert not (bundle / "manifest.json").exists()
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("gradient.png", "sun_and_grass.jpg"):
        shutil.copy(IMAGES_DIR / name, folder / name)
    return tmp_path


def _run(argv: list[str], cwd: Path) -> str:
    env = dict(os.environ, NANOCAPTION_DATA_DIR=str(cwd / "data"))
    env.pop("NANOCAPTION_MODEL_DIR", None)
    done = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _code(root: Path) -> str:
    return "import os\n" + SCRIPT.format(
        bundle=str(root / "bundle"),
        image=str(IMAGES_DIR / "gradient.png"),
        folder=str(root / "photos"),
    )


def _check(out: str, captioner) -> None:
    assert out.count("top level ran") == 1, out
    expected = captioner.caption(IMAGES_DIR / "gradient.png").text
    assert f"caption: {expected}\n" in out
    assert sorted(line for line in out.splitlines() if line.startswith("batch:")) == [
        "batch: True gradient.png",
        "batch: True sun_and_grass.jpg",
    ]


def test_a_plain_script_without_a_main_guard(hand_installed: Path, captioner):
    script = hand_installed / "caption_photos.py"
    script.write_text(_code(hand_installed))
    _check(_run([sys.executable, str(script)], hand_installed), captioner)


def test_python_dash_c(hand_installed: Path, captioner):
    _check(_run([sys.executable, "-c", _code(hand_installed)], hand_installed), captioner)


def test_a_jupyter_like_main_without_a_file(hand_installed: Path, captioner):
    """Jupyter runs cells in a `__main__` module that has no `__file__` and no `__spec__`."""
    runner = textwrap.dedent(
        """\
        import sys, types
        main = types.ModuleType("__main__")
        main.__spec__ = None
        sys.modules["__main__"] = main
        exec(compile(sys.stdin.read(), "<cell>", "exec"), main.__dict__)
        """
    )
    env = dict(os.environ, NANOCAPTION_DATA_DIR=str(hand_installed / "data"))
    done = subprocess.run(
        [sys.executable, "-c", runner],
        input=_code(hand_installed),
        cwd=hand_installed,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    _check(done.stdout, captioner)
