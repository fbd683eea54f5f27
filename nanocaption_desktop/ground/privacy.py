"""Nothing leaves the machine: onnxruntime's telemetry is off before onnxruntime first loads.

onnxruntime 1.x (Linux/macOS builds with its 1DS telemetry) creates
``~/.cache/Microsoft/DeveloperTools/.onnxruntime/{deviceid,onnxruntime.db}`` when the library
loads and queues usage events. Its native code reads ``ORT_DISABLE_TELEMETRY`` at that moment;
with ``ORT_DISABLE_TELEMETRY=1`` neither file is created (measured: onnxruntime 1.32, a fresh
HOME; ``onnxruntime.disable_telemetry_events()`` called after the import stops the events but
not the files, which already exist by then). So the variable is set as the first thing the
package does, unless the user set it themselves; spawned workers inherit it, and the frozen
executable's entry script sets it before its own early ``import onnxruntime``.
"""

from __future__ import annotations

import os

TELEMETRY_ENV = "ORT_DISABLE_TELEMETRY"


def quiet_runtime() -> None:
    """Turn onnxruntime's telemetry off for this process and its children (a user's own
    setting of ``ORT_DISABLE_TELEMETRY`` is kept)."""
    os.environ.setdefault(TELEMETRY_ENV, "1")


def telemetry_wanted() -> bool:
    """Whether the user asked for onnxruntime's telemetry (``ORT_DISABLE_TELEMETRY=0``)."""
    return os.environ.get(TELEMETRY_ENV, "1").strip() in ("0", "false", "False", "no")
