"""Model bundles: where they are looked for, how they are downloaded, checked and trusted.

Standard library + platformdirs only; no Qt, no onnxruntime (``onnx`` is used when installed).
Imports only the ground layer (docs/architecture.md); the ``models`` commands that combine these
checks with the engine's load checks live above, in cli_models.py.
"""

from __future__ import annotations

from .fetch import FetchError, fetch, manual_install_help
from .locate import MODEL_DIR_ENV, candidate_dirs, default_install_dir, find_bundle
from .manifest import (
    MANIFEST_NAME,
    check_bundle,
    check_external_data,
    check_tree_safety,
    verify,
    write_manifest,
)
from .registry import BUNDLES, DEFAULT_BUNDLE, BundleFile, BundleSpec, get_spec

__all__ = [
    "BUNDLES",
    "DEFAULT_BUNDLE",
    "MANIFEST_NAME",
    "MODEL_DIR_ENV",
    "BundleFile",
    "BundleSpec",
    "FetchError",
    "candidate_dirs",
    "check_bundle",
    "check_external_data",
    "check_tree_safety",
    "default_install_dir",
    "fetch",
    "find_bundle",
    "get_spec",
    "manual_install_help",
    "verify",
    "write_manifest",
]
