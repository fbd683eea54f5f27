"""Compatibility name for `ground.paths` (where things live); new code imports that."""

from __future__ import annotations

from .ground.paths import (
    APP_NAME,
    DATA_DIR_ENV,
    checkout_root,
    is_frozen,
    resource_path,
    shipped_inside,
    user_cache_dir,
    user_data_dir,
    user_log_dir,
    user_models_dir,
)

__all__ = [
    "APP_NAME",
    "DATA_DIR_ENV",
    "checkout_root",
    "is_frozen",
    "resource_path",
    "shipped_inside",
    "user_cache_dir",
    "user_data_dir",
    "user_log_dir",
    "user_models_dir",
]
