"""The model reaches workers that cannot see the driver's path: shipped through Ray's object
store into the node's cache, each file checked against the driver's SHA-256.

How a worker is made blind to a path: the tests' cluster starts its workers with
``NANOCAPTION_RAY_UNSEEN`` naming a folder (conftest.py), which ``shipping.can_see`` treats as
absent on the workers only; the driver reads the bundle there as usual."""

from __future__ import annotations

import pytest

pytest.importorskip("ray.data")

from fixture_paths import TINY_BUNDLE  # noqa: E402

from nanocaption_desktop.ground.errors import ClusterError  # noqa: E402
from nanocaption_desktop.ground.hashing import file_sha256  # noqa: E402
from nanocaption_desktop.jobs import BatchSpec, checked_spec  # noqa: E402
from nanocaption_desktop.scale import RayOptions, start  # noqa: E402
from nanocaption_desktop.scale.shipping import load_files  # noqa: E402


def _spec(folder, out, model):
    return checked_spec(BatchSpec(str(folder), csv=out / "r.csv", model=model))


def test_a_bundle_reaches_workers_that_cannot_see_its_path(
    ray_cluster, sixty_images, reference, tiny_copy, scale_dirs, tmp_path
):
    run, backend = start(_spec(sixty_images, tmp_path, tiny_copy), RayOptions("local"))
    assert backend.model.refs is not None  # the probe found a node without the path: shipped
    results = list(run.results())
    assert backend.model_from == {"shipped"}
    assert all(r.ok for r in results)
    assert (tmp_path / "r.csv").read_bytes() == reference["csv"]
    cached = list(scale_dirs["cache"].glob(f"nanocaption-ray-models/*/{tiny_copy.name}"))
    assert len(cached) == 1  # one copy per node, whatever the number of captioners there
    shipped = load_files(tiny_copy)
    assert "onnx/encoder_model_quantized.onnx" in shipped and "tokenizer.json" in shipped
    for rel in shipped:
        assert file_sha256(cached[0] / rel) == file_sha256(tiny_copy / rel)
        assert file_sha256(cached[0] / rel) == backend.model.files[rel]


def test_a_visible_bundle_is_not_shipped(ray_cluster, sixty_images, reference, tmp_path):
    run, backend = start(_spec(sixty_images, tmp_path, TINY_BUNDLE), RayOptions("local"))
    assert backend.model.refs is None
    list(run.results())
    assert backend.model_from == {"path"}
    assert (tmp_path / "r.csv").read_bytes() == reference["csv"]


def test_never_shipping_a_model_the_workers_cannot_see_is_a_clear_error(
    ray_cluster, sixty_images, tiny_copy, tmp_path
):
    run, _ = start(
        _spec(sixty_images, tmp_path, tiny_copy), RayOptions("local", ship_model="never")
    )
    with pytest.raises(ClusterError, match="--ray-ship-model"):
        list(run.results())
