"""`batch --ray` without the scale extra: a one-line message saying how to install it, exit 2,
before any model load or output (runs whether or not Ray is installed: Ray is hidden here)."""

from __future__ import annotations

import sys

from fixture_paths import IMAGES_DIR, TINY_BUNDLE

from nanocaption_desktop.cli_batch import main


def test_ray_without_the_extra_says_how_to_install_it(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    csv = tmp_path / "c.csv"
    code = main([str(IMAGES_DIR), "--csv", str(csv), "--model", str(TINY_BUNDLE), "--ray"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "--ray needs the scale extra" in err[0]
    assert "pip install 'nanocaption-desktop[scale]'" in err[0]
    assert not csv.exists()


def test_ray_options_parse_with_every_batch_option():
    import argparse

    from nanocaption_desktop.cli_batch import add_parser

    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["batch", "photos", "-r", "--sidecars", "append", "--beams", "2", "--ray"]
    )
    assert (args.ray, args.ray_ship_model, args.recursive, args.beams) == ("auto", "auto", True, 2)
    args = parser.parse_args(["batch", "photos", "--ray", "ray://head:10001", "--ray-ship-model",
                              "always"])  # fmt: skip
    assert (args.ray, args.ray_ship_model) == ("ray://head:10001", "always")
    assert parser.parse_args(["batch", "photos"]).ray is None
