"""tests/benchmarks/profile_ops.py reads onnxruntime's profile of the engine's own graphs."""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def test_the_profile_counts_every_kernel_of_every_step(bundle, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    import profile_ops

    res = profile_ops.profile(bundle, threads=1, runs=2, tokens=4, out=tmp_path)
    step = res["step"]
    assert step["runs"] == 2 * res["generated"]  # the warm-up caption's steps left out
    kernels = sum(count for _, count in step["ops"].values()) / step["runs"]
    assert kernels == int(kernels) and kernels > 20  # the same kernels at every step
    assert any("MatMul" in op for op in step["ops"])
    assert 0 < sum(us for us, _ in step["ops"].values()) < step["run_us"]
    lines = profile_ops.table("step graph", step, "token")
    assert lines[-1].startswith("| (outside kernels) |")
    assert res["encoder"]["runs"] == 2 and res["cross"]["runs"] == 2
    del sys.modules["profile_ops"]
