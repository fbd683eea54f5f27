"""Persistent settings: the keys, their defaults and typed accessors over QSettings."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QByteArray, QSettings

from ..review.cleanup import PLACEHOLDER, CleanupOptions

ORGANIZATION = "NanoCaption"
APPLICATION = "NanoCaption Desktop"

# Keys are grouped by "group/name"; every key the app reads has a default here.
DEFAULTS: dict[str, Any] = {
    "model/folder": "",  # empty: look in the usual places (see modelstore.locate)
    "caption/beams": 0,  # 0 = the model's generation_config, 1 = greedy, more = beam search
    "caption/max_new_tokens": 0,  # 0 = the model's generation_config
    "caption/auto_copy": False,
    "batch/last_folder": "",
    "batch/recursive": True,
    "batch/write_csv": True,
    "batch/write_jsonl": False,
    "batch/sidecars": "off",  # off | skip | overwrite | append
    "batch/resume": True,
    "batch/write_metadata": False,  # the caption into each photo as alt text
    "history/last_export_folder": "",
    "files/last_open_folder": "",
    "ui/appearance": "system",  # system | light | dark
    "review/write_to": "alt-text",  # review.targets.Target: alt-text | sidecar | csv | jsonl
    "review/cleanup": True,  # review.cleanup on new model captions (the raw text is kept)
    "review/period": False,  # cleanup ends a caption with a full stop
    "review/template": "{caption}",  # prefix/suffix for datasets, e.g. "photo of {caption}"
    "images/max_megapixels": 100,  # engine.limits.DEFAULT_MAX_MEGAPIXELS; 1..1000
    "window/geometry": QByteArray(),
    "window/state": QByteArray(),
}

SIDECAR_CHOICES = ("off", "skip", "overwrite", "append")
APPEARANCE_CHOICES = ("system", "light", "dark")
WRITE_CHOICES = ("alt-text", "sidecar", "csv", "jsonl")


class Settings:
    """Typed accessors over one ``QSettings`` store (pass one in tests to stay isolated)."""

    def __init__(self, store: QSettings | None = None) -> None:
        self._store = store if store is not None else QSettings(ORGANIZATION, APPLICATION)

    @property
    def store(self) -> QSettings:
        return self._store

    def _get(self, key: str, kind: type) -> Any:
        default = DEFAULTS[key]
        if kind is bool:  # QSettings stores bools as "true"/"false" in INI files
            raw = self._store.value(key, default)
            if isinstance(raw, str):
                return raw.lower() in ("1", "true", "yes", "on")
            return bool(raw)
        try:
            return self._store.value(key, default, type=kind)
        except (TypeError, ValueError):
            return default

    def _set(self, key: str, value: Any) -> None:
        if key not in DEFAULTS:
            raise KeyError(key)
        self._store.setValue(key, value)

    def sync(self) -> None:
        self._store.sync()

    # --- images
    def max_megapixels(self) -> int:
        """The largest image to read, in megapixels (a JPEG counts at its reduced scale)."""
        value = self._get("images/max_megapixels", int)
        return value if 1 <= value <= 1000 else DEFAULTS["images/max_megapixels"]

    def set_max_megapixels(self, megapixels: int) -> None:
        self._set("images/max_megapixels", int(megapixels))

    # --- model
    def model_folder(self) -> str:
        return str(self._get("model/folder", str))

    def set_model_folder(self, folder: str) -> None:
        self._set("model/folder", folder)

    # --- caption
    def beams(self) -> int:
        return max(0, min(8, int(self._get("caption/beams", int))))

    def set_beams(self, beams: int) -> None:
        self._set("caption/beams", int(beams))

    def max_new_tokens(self) -> int:
        return max(0, min(128, int(self._get("caption/max_new_tokens", int))))

    def set_max_new_tokens(self, n: int) -> None:
        self._set("caption/max_new_tokens", int(n))

    def auto_copy(self) -> bool:
        return bool(self._get("caption/auto_copy", bool))

    def set_auto_copy(self, on: bool) -> None:
        self._set("caption/auto_copy", bool(on))

    # --- batch
    def batch_last_folder(self) -> str:
        return str(self._get("batch/last_folder", str))

    def set_batch_last_folder(self, folder: str) -> None:
        self._set("batch/last_folder", folder)

    def batch_recursive(self) -> bool:
        return bool(self._get("batch/recursive", bool))

    def set_batch_recursive(self, on: bool) -> None:
        self._set("batch/recursive", bool(on))

    def batch_write_csv(self) -> bool:
        return bool(self._get("batch/write_csv", bool))

    def set_batch_write_csv(self, on: bool) -> None:
        self._set("batch/write_csv", bool(on))

    def batch_write_jsonl(self) -> bool:
        return bool(self._get("batch/write_jsonl", bool))

    def set_batch_write_jsonl(self, on: bool) -> None:
        self._set("batch/write_jsonl", bool(on))

    def batch_sidecars(self) -> str:
        value = str(self._get("batch/sidecars", str))
        return value if value in SIDECAR_CHOICES else "off"

    def set_batch_sidecars(self, policy: str) -> None:
        if policy not in SIDECAR_CHOICES:
            raise ValueError(policy)
        self._set("batch/sidecars", policy)

    def batch_resume(self) -> bool:
        return bool(self._get("batch/resume", bool))

    def set_batch_resume(self, on: bool) -> None:
        self._set("batch/resume", bool(on))

    def batch_write_metadata(self) -> bool:
        return bool(self._get("batch/write_metadata", bool))

    def set_batch_write_metadata(self, on: bool) -> None:
        self._set("batch/write_metadata", bool(on))

    # --- folders remembered between sessions
    def last_open_folder(self) -> str:
        return str(self._get("files/last_open_folder", str))

    def set_last_open_folder(self, folder: str) -> None:
        self._set("files/last_open_folder", folder)

    def last_export_folder(self) -> str:
        return str(self._get("history/last_export_folder", str))

    def set_last_export_folder(self, folder: str) -> None:
        self._set("history/last_export_folder", folder)

    # --- look
    def review_write_to(self) -> str:
        """Where Ctrl+S writes approved captions on the Review page."""
        value = str(self._get("review/write_to", str))
        return value if value in WRITE_CHOICES else str(DEFAULTS["review/write_to"])

    def set_review_write_to(self, value: str) -> None:
        if value not in WRITE_CHOICES:
            raise ValueError(f"unknown write target {value!r}")
        self._set("review/write_to", value)

    def review_cleanup(self) -> CleanupOptions | None:
        """The cleanup new model captions get on the Review page; None when switched off. A
        stored template without ``{caption}`` exactly once is ignored (the plain caption)."""
        if not self._get("review/cleanup", bool):
            return None
        template = str(self._get("review/template", str))
        if template.count(PLACEHOLDER) != 1:
            template = PLACEHOLDER
        return CleanupOptions(period=bool(self._get("review/period", bool)), template=template)

    def review_cleanup_choice(self) -> tuple[bool, bool, str]:
        """What the Settings dialog shows: cleanup on, the full stop, the template as stored."""
        return (
            bool(self._get("review/cleanup", bool)),
            bool(self._get("review/period", bool)),
            str(self._get("review/template", str)),
        )

    def set_review_cleanup(self, enabled: bool, period: bool, template: str) -> None:
        CleanupOptions(template=template)  # a ValueError for a template without {caption}
        self._set("review/cleanup", enabled)
        self._set("review/period", period)
        self._set("review/template", template)

    def appearance(self) -> str:
        value = str(self._get("ui/appearance", str))
        return value if value in APPEARANCE_CHOICES else "system"

    def set_appearance(self, value: str) -> None:
        if value not in APPEARANCE_CHOICES:
            raise ValueError(value)
        self._set("ui/appearance", value)

    def window_geometry(self) -> QByteArray:
        return self._get("window/geometry", QByteArray)

    def set_window_geometry(self, data: QByteArray) -> None:
        self._set("window/geometry", data)

    def window_state(self) -> QByteArray:
        return self._get("window/state", QByteArray)

    def set_window_state(self, data: QByteArray) -> None:
        self._set("window/state", data)
