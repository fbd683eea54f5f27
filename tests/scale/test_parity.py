"""`batch --ray local` writes the same CSV and JSONL as a local batch, caption for caption."""

from __future__ import annotations

import pytest

pytest.importorskip("ray.data")

from conftest import N_IMAGES  # noqa: E402
from fixture_paths import TINY_BUNDLE  # noqa: E402

from nanocaption_desktop.cli_batch import main  # noqa: E402
from nanocaption_desktop.jobs import caption_folder  # noqa: E402


def test_ray_local_csv_equals_the_local_batch(ray_cluster, sixty_images, reference, tmp_path):
    csv, jsonl = tmp_path / "r.csv", tmp_path / "r.jsonl"
    args = [
        str(sixty_images),
        "--csv",
        str(csv),
        "--jsonl",
        str(jsonl),
        "--model",
        str(TINY_BUNDLE),
    ]
    assert main([*args, "--ray", "local"]) == 0
    assert csv.read_bytes() == reference["csv"]  # same rows, same order, same captions
    assert jsonl.read_bytes() == reference["jsonl"]
    assert csv.read_text(encoding="utf-8").count("\n") == N_IMAGES + 1
    # a rerun finds everything in the journal: nothing is captioned again, outputs unchanged
    assert main([*args, "--ray", "local"]) == 0
    assert csv.read_bytes() == reference["csv"]
    # one journal for both: a local run of the same batch resumes what the cluster recorded
    again = list(caption_folder(sixty_images, csv=csv, jsonl=jsonl, model=TINY_BUNDLE))
    assert len(again) == N_IMAGES and all(r.resumed for r in again)
    assert csv.read_bytes() == reference["csv"]


def test_a_model_name_is_refused_before_any_work(ray_cluster, sixty_images, tmp_path, capsys):
    csv = tmp_path / "r.csv"
    code = main([str(sixty_images), "--csv", str(csv), "--model", "vit-gpt2", "--ray", "local"])
    assert code == 2
    err = capsys.readouterr().err
    assert "vit-gpt2: not a model folder on this machine" in err
    assert "models fetch" in err
    assert not csv.exists()


def test_sidecars_are_written_at_the_driver_as_locally(ray_cluster, tmp_path):
    """`--sidecars append` twice: a retried task could never append twice, since the driver
    writes each sidecar once, with its journal record; the texts equal a local batch's."""
    from fixture_paths import IMAGES_DIR

    from nanocaption_desktop.scale import caption_folder_ray

    local, remote = tmp_path / "local", tmp_path / "remote"
    for folder in (local, remote):
        folder.mkdir()
        for p in IMAGES_DIR.iterdir():
            (folder / p.name).write_bytes(p.read_bytes())
    for _ in range(2):  # the second run redoes nothing: resume
        list(caption_folder(local, sidecars="append", model=TINY_BUNDLE))
        results = list(
            caption_folder_ray(remote, sidecars="append", model=TINY_BUNDLE, ray="local")
        )
        assert all(r.ok for r in results)
    texts = sorted(p.name for p in local.glob("*.txt"))
    assert len(texts) == 6 and texts == sorted(p.name for p in remote.glob("*.txt"))
    for name in texts:
        assert (remote / name).read_bytes() == (local / name).read_bytes()
        assert (remote / name).read_text(encoding="utf-8").count("\n") <= 1  # appended once
