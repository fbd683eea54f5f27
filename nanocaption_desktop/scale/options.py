"""What a batch on a Ray cluster is asked for besides its ``BatchSpec``: where the cluster is
and how the model reaches the workers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..ground.errors import ClusterError

#: ``--ray``: join the cluster Ray finds (``RAY_ADDRESS``, a running local head), else start one.
AUTO = "auto"
#: ``--ray local``: a cluster of this machine only (head and workers here, 127.0.0.1).
LOCAL = "local"
SHIP_MODES = ("auto", "always", "never")

INSTALL_HINT = "pip install 'nanocaption-desktop[scale]'"


@dataclass(frozen=True)
class RayOptions:
    """``address``: ``"auto"``, ``"local"`` or a cluster address (``ray://host:10001`` or a
    head's ``host:6379``). ``ship_model``: ``"never"`` (the bundle is at the same path on every
    node), ``"always"`` (its files go through Ray's object store into a per-node cache) or
    ``"auto"`` (ship when a probe task on some node cannot see the driver's path).
    ``actors``: captioners in the pool (None: one per CPU of the cluster). ``rows_per_block``:
    images per Ray Data block (None: chosen from the batch's size; a retried task redoes at most
    one block). ``faults`` is for tests only (``{file name: "hold:DIR"}``, see actor.py)."""

    address: str = AUTO
    ship_model: str = "auto"
    actors: int | None = None
    rows_per_block: int | None = None
    faults: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.ship_model not in SHIP_MODES:
            raise ValueError(f"ship_model must be one of {', '.join(SHIP_MODES)}")
        if self.actors is not None and self.actors < 1:
            raise ValueError("actors must be 1 or more")
        object.__setattr__(self, "faults", dict(self.faults))


def options_of(ray: RayOptions | str | None) -> RayOptions:
    """``RayOptions`` as they are, or from an address string (None: ``"auto"``)."""
    if isinstance(ray, RayOptions):
        return ray
    return RayOptions(address=ray or AUTO)


def require_ray() -> Any:
    """The ``ray`` module; ``ClusterError`` saying how to install it when it is missing."""
    try:
        import ray
        import ray.data  # noqa: F401  (the [data] part of the extra)
    except ImportError as e:
        raise ClusterError(
            "ray", f"--ray needs the scale extra, which is not installed ({e}): {INSTALL_HINT}"
        ) from None
    return ray
