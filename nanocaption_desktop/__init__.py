"""NanoCaption Desktop: offline image captioning on a plain CPU.

The public Python API::

    from nanocaption_desktop import Captioner
    captioner = Captioner.load()            # or Captioner.load("path/to/bundle")
    print(captioner.caption("photo.jpg").text)

    from nanocaption_desktop import import_model, list_models
    import_model("path/to/onnx-export", name="mine")   # then Captioner.load("mine")
    print([m.name for m in list_models()])
    from nanocaption_desktop import read_descriptions, write_alt_text
    print(read_descriptions("photo.jpg").winner)       # what the photo already says
    print(write_alt_text("photo.jpg", "A dog on a beach"))  # where the alt text went
"""

from __future__ import annotations

from .ground.privacy import quiet_runtime
from .ground.version import __version__

quiet_runtime()  # before anything can load onnxruntime (its telemetry): ground/privacy.py

__all__ = [
    "BatchSpec",
    "Caption",
    "Captioner",
    "ImageError",
    "ModelError",
    "NanoCaptionError",
    "Descriptions",
    "MetadataError",
    "WriteResult",
    "caption_folder",
    "import_model",
    "list_models",
    "evaluate",
    "read_descriptions",
    "write_alt_text",
    "__version__",
]


def __getattr__(name: str):  # lazy: importing the package stays cheap (no onnxruntime yet)
    if name in ("Caption", "Captioner"):
        from .engine import captioner

        return getattr(captioner, name)
    if name in ("ImageError", "MetadataError", "ModelError", "NanoCaptionError"):
        from .ground import errors

        return getattr(errors, name)
    if name in ("BatchSpec", "caption_folder"):
        from . import jobs

        return getattr(jobs, name)
    if name == "import_model":
        from .engine import importer

        return importer.import_model
    if name == "list_models":
        from .modelstore import installed

        return installed.list_models
    if name == "evaluate":  # the function; the subpackage stays `nanocaption_desktop.evaluation`
        from .evaluation import evaluate

        return evaluate
    if name in ("Descriptions", "WriteResult", "read_descriptions", "write_alt_text"):
        from . import metadata

        return getattr(metadata, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
