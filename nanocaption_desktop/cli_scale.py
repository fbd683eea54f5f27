"""``batch --ray``: the same batch on a Ray cluster (the ``scale`` extra; docs/scale.md).

``add_options(parser)`` adds ``--ray [auto|local|ADDRESS]`` and ``--ray-ship-model``;
``results(spec, args, cancel)`` runs the batch there. The ``scale`` package (and Ray) are
imported only when ``--ray`` is given: a missing extra is a one-line error, exit code 2.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import Any

SHIP_MODES = ("auto", "always", "never")


def add_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--ray",
        nargs="?",
        const="auto",
        metavar="auto|local|ADDRESS",
        help="caption on a Ray cluster (pip install 'nanocaption-desktop[scale]'): auto (the "
        "cluster RAY_ADDRESS or a running head names, else a new one on this machine), local "
        "(this machine) or an address (ray://head:10001); same outputs, journal kept here",
    )
    p.add_argument(
        "--ray-ship-model",
        choices=SHIP_MODES,
        default="auto",
        help="with --ray: send the model's files to the workers through Ray's object store: "
        "auto (when a node cannot see --model's path; default), always, never",
    )


def results(spec: Any, args: argparse.Namespace, cancel: Any) -> Iterator[Any]:
    """The batch's ``BatchResult``s from the cluster ``args.ray`` names."""
    from .scale import RayOptions, caption_folder_ray, require_ray

    require_ray()  # before the cluster starts: ClusterError saying how to install the extra
    options = RayOptions(address=args.ray, ship_model=args.ray_ship_model)
    return caption_folder_ray(spec, ray=options, cancel=cancel)
