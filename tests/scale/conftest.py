"""One local Ray cluster (2 CPUs, 127.0.0.1, no dashboard) shared by the tests of this folder,
and 60 images made from the fixture images (each rotated or scaled its own way)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest.importorskip("ray.data", reason="the scale extra (ray[data]) is not installed")

from fixture_paths import IMAGES_DIR, TINY_BUNDLE  # noqa: E402

from nanocaption_desktop.jobs import caption_folder  # noqa: E402
from nanocaption_desktop.scale.shipping import CACHE_ENV, UNSEEN_ENV  # noqa: E402

N_IMAGES = 60

#: Ray's own deprecation notices (raised inside ray/, about its internal settings) are not ours.
RAY_WARNINGS = ("ignore::DeprecationWarning:ray", "ignore::FutureWarning:ray")


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            for rule in RAY_WARNINGS:
                item.add_marker(pytest.mark.filterwarnings(rule))


@pytest.fixture(scope="session")
def scale_dirs(tmp_path_factory):
    """``hidden``: where a bundle the workers cannot see goes; ``cache``: the nodes' model cache."""
    root = tmp_path_factory.mktemp("scale")
    dirs = {"hidden": root / "hidden", "cache": root / "cache"}
    for d in dirs.values():
        d.mkdir()
    return dirs


@pytest.fixture(scope="session")
def ray_cluster(scale_dirs):
    import ray

    env = {UNSEEN_ENV: str(scale_dirs["hidden"]), CACHE_ENV: str(scale_dirs["cache"])}
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",  # this machine only: nothing listens beyond loopback
        log_to_driver=False,
        runtime_env={"env_vars": env},
    )
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def sixty_images(tmp_path_factory):
    """60 distinct images: the 6 fixture images, each in 10 variants, in their own formats."""
    from PIL import Image

    folder = tmp_path_factory.mktemp("sixty")
    for source in sorted(IMAGES_DIR.iterdir()):
        with Image.open(source) as im:
            im.load()
            for k in range(N_IMAGES // 6):
                variant = (
                    im.rotate(36 * k, expand=True)
                    if k % 2
                    else im.resize((max(8, im.width - 7 * k), max(8, im.height - 5 * k)))
                )
                variant.save(folder / f"v{k:02d}_{source.name}", format=im.format)
    assert len(list(folder.iterdir())) == N_IMAGES
    return folder


@pytest.fixture(scope="session")
def reference(sixty_images, tmp_path_factory):
    """The CSV and JSONL of a local batch (no Ray) over the 60 images."""
    out = tmp_path_factory.mktemp("reference")
    results = list(
        caption_folder(sixty_images, csv=out / "c.csv", jsonl=out / "c.jsonl", model=TINY_BUNDLE)
    )
    assert len(results) == N_IMAGES and all(r.ok for r in results)
    return {"csv": (out / "c.csv").read_bytes(), "jsonl": (out / "c.jsonl").read_bytes()}


@pytest.fixture
def tiny_copy(scale_dirs):
    """The tiny bundle at a path the workers cannot see (``NANOCAPTION_RAY_UNSEEN``)."""
    target = scale_dirs["hidden"] / TINY_BUNDLE.name
    if not target.exists():
        shutil.copytree(TINY_BUNDLE, target)
    return Path(target)
