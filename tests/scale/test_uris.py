"""Object-store inputs with `--ray`: `file://` URIs through the same pyarrow code path as
`s3://` and `gs://` (``FileSystem.from_uri``, a listing, the workers reading the bytes), a file
list with URI and missing lines; s3/gs only as far as building the filesystem, offline."""

from __future__ import annotations

import pytest

pytest.importorskip("ray.data")

from conftest import N_IMAGES  # noqa: E402
from fixture_paths import TINY_BUNDLE  # noqa: E402

from nanocaption_desktop.cli_batch import main  # noqa: E402
from nanocaption_desktop.jobs import read_csv  # noqa: E402
from nanocaption_desktop.scale.inputs import Inputs  # noqa: E402


def test_a_file_uri_folder_gives_the_local_batchs_csv(
    ray_cluster, sixty_images, reference, tmp_path
):
    csv = tmp_path / "u.csv"
    uri = sixty_images.as_uri()
    assert uri.startswith("file:///")
    args = [uri, "--csv", str(csv), "--model", str(TINY_BUNDLE), "--ray", "local"]
    assert main(args) == 0
    assert csv.read_bytes() == reference["csv"]  # keys: paths relative to the URI, same captions
    journal = (tmp_path / "u.csv.journal.jsonl").read_text(encoding="utf-8")
    assert journal.count("\n") == N_IMAGES + 1
    assert main(args) == 0  # a rerun: every key and signature (size, mtime) found, nothing redone
    assert (tmp_path / "u.csv.journal.jsonl").read_text(encoding="utf-8") == journal


def test_a_list_of_uris_and_paths_with_missing_lines(
    ray_cluster, sixty_images, reference, tmp_path
):
    names = sorted(p.name for p in sixty_images.iterdir())[:3]
    listing = tmp_path / "list.txt"
    lines = [
        f"{sixty_images.as_uri()}/{names[0]}",
        f"{sixty_images.as_uri()}/gone.jpg",
        str(sixty_images / names[1]),
        "nowhere.png",
    ]
    listing.write_text("# mixed\n" + "\n".join(lines) + "\n", encoding="utf-8")
    csv = tmp_path / "l.csv"
    code = main(
        ["--files-from", str(listing), "--csv", str(csv), "--model", str(TINY_BUNDLE)]
        + [
            "--ray",
            "local",
        ]
    )
    assert code == 1
    rows = read_csv(csv)
    by_key = {r["path"]: r for r in rows}
    want = {r["path"]: r["caption"] for r in read_csv_bytes(reference["csv"], tmp_path)}
    assert len(rows) == 4
    assert by_key[lines[0]]["caption"] == want[names[0]]  # a URI line: keyed as written
    assert by_key[lines[0]]["status"] == "ok"
    local = [r for r in rows if r["path"].endswith(names[1])]
    assert len(local) == 1 and local[0]["caption"] == want[names[1]]
    assert by_key[lines[1]]["error"].startswith(f"{listing} line 3: cannot be read")
    nowhere = [r for r in rows if r["path"].endswith("nowhere.png")]
    assert nowhere[0]["status"] == "failed"
    assert nowhere[0]["error"].startswith(f"{listing} line 5: cannot be read")


def read_csv_bytes(data: bytes, folder):
    path = folder / "reference.csv"
    path.write_bytes(data)
    return read_csv(path)


def test_sidecars_and_metadata_are_refused_for_uris(sixty_images, tmp_path, capsys):
    for option in (["--sidecars", "skip"], ["--write-metadata"]):
        args = [sixty_images.as_uri(), *option, "--model", str(TINY_BUNDLE), "--ray", "local"]
        assert main(args) == 2
        err = capsys.readouterr().err
        assert "--sidecars and --write-metadata write beside the photos" in err
        assert err.count("\n") == 1
    assert not list(sixty_images.glob("*.txt"))


def test_s3_and_gs_filesystems_are_built_without_connecting(monkeypatch):
    """A region in the URI spares pyarrow its region lookup (a request); GCS connects lazily."""
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    inputs = Inputs()
    s3, path = inputs.filesystem("s3://bucket/photos/a%20b.jpg?region=eu-west-1")
    assert type(inputs.filesystems[s3]).__name__ == "S3FileSystem"
    assert path == "bucket/photos/a b.jpg" and inputs.filesystems[s3].region == "eu-west-1"
    again, path2 = inputs.filesystem("s3://bucket/other/c.png?region=eu-west-1")
    assert (again, path2) == (s3, "bucket/other/c.png")  # one filesystem per bucket
    gs, path = inputs.filesystem("gs://bucket/photos/d.jpg")
    assert type(inputs.filesystems[gs]).__name__ == "GcsFileSystem" and gs != s3
    assert path == "bucket/photos/d.jpg"
    assert len(inputs.filesystems) == 2
