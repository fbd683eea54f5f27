"""Joining (or starting) the Ray cluster, and how many captioners it has room for."""

from __future__ import annotations

import logging
from typing import Any

from ..ground.errors import ClusterError
from .options import AUTO, LOCAL, RayOptions, require_ray

log = logging.getLogger(__name__)


def connect(options: RayOptions) -> Any:
    """``ray`` after ``ray.init`` for ``options.address``. An already initialised Ray (a
    caller's own ``ray.init``, a test's cluster) is used as it is."""
    ray = require_ray()
    if ray.is_initialized():
        return ray
    address = options.address
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
    try:
        if address == LOCAL:
            ray.init(address="local", _node_ip_address="127.0.0.1", **kwargs)
        elif address == AUTO:
            ray.init(**kwargs)  # RAY_ADDRESS or a running local head, else a new local one
        else:
            ray.init(address=address, **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise ClusterError(address, f"cannot reach the Ray cluster ({e})") from e
    log.info("ray: %s", ray.get_runtime_context().gcs_address)
    return ray


def cluster_cpus(ray: Any) -> int:
    """Whole CPUs the cluster has (at least 1)."""
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def alive_nodes(ray: Any) -> list[str]:
    """Ids of the nodes that are alive (where a probe must run)."""
    return [n["NodeID"] for n in ray.nodes() if n.get("Alive")]
