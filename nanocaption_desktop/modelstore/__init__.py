"""Model bundles: where they are looked for, how they are downloaded, checked and trusted.

Standard library + platformdirs only; no Qt, no onnxruntime (``onnx`` is used when installed).
Imports only the ground layer (docs/architecture.md); the ``models`` commands that combine these
checks with the engine's load checks live above, in cli_models.py.
"""

from __future__ import annotations

from .fetch import FetchError, fetch, manual_install_help
from .installed import (
    InstalledModel,
    default_model,
    list_models,
    resolve_model,
    set_default_model,
)
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
    "InstalledModel",
    "candidate_dirs",
    "check_bundle",
    "check_external_data",
    "check_tree_safety",
    "default_install_dir",
    "default_model",
    "fetch",
    "find_bundle",
    "get_spec",
    "list_models",
    "manual_install_help",
    "resolve_model",
    "set_default_model",
    "verify",
    "write_manifest",
]
