"""Known model bundles that ``models fetch`` can download, and where their files come from."""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import quote

from ..ground.errors import ModelError

DEFAULT_BUNDLE = "vit-gpt2"
DEFAULT_HUB_URL = "https://huggingface.co"
HUB_URL_ENV = "NANOCAPTION_HUB_URL"

__all__ = [
    "BUNDLES",
    "DEFAULT_BUNDLE",
    "DEFAULT_HUB_URL",
    "HUB_URL_ENV",
    "BundleFile",
    "BundleSpec",
    "get_spec",
    "hub_base_url",
]


@dataclass(frozen=True)
class BundleFile:
    """One file of a bundle. ``size``/``sha256`` pin it when known; the hub's headers also count."""

    path: str  # relative, with forward slashes, e.g. "onnx/encoder_model_quantized.onnx"
    size: int | None = None  # exact size in bytes, when pinned
    sha256: str | None = None  # lowercase hex, when pinned
    approx_mb: float | None = None  # for messages only


@dataclass(frozen=True)
class BundleSpec:
    """A bundle on the Hugging Face hub: repository, revision and the files the app needs."""

    name: str
    repo: str
    files: tuple[BundleFile, ...]
    revision: str = "main"
    license: str = ""
    description: str = ""

    def file_url(self, file: BundleFile | str, base_url: str | None = None) -> str:
        """``{hub}/{repo}/resolve/{revision}/{file}``."""
        rel = file.path if isinstance(file, BundleFile) else file
        return "/".join(
            (
                hub_base_url(base_url),
                self.repo,
                "resolve",
                quote(self.revision, safe=""),
                quote(rel, safe="/"),
            )
        )

    def page_url(self, base_url: str | None = None) -> str:
        """The repository's file list on the hub, for people installing by hand."""
        return f"{hub_base_url(base_url)}/{self.repo}/tree/{quote(self.revision, safe='')}"

    @property
    def approx_mb(self) -> float:
        return sum(f.approx_mb or 0.0 for f in self.files)


def _transformers_js_layout(
    encoder_mb: float | None, decoder_mb: float | None
) -> tuple[BundleFile, ...]:
    # JSON files first: they are small, so an unreachable hub is found before the large downloads.
    return (
        BundleFile("config.json"),
        BundleFile("generation_config.json"),
        BundleFile("preprocessor_config.json"),
        BundleFile("tokenizer.json"),
        BundleFile("onnx/encoder_model_quantized.onnx", approx_mb=encoder_mb),
        BundleFile("onnx/decoder_with_past_model_quantized.onnx", approx_mb=decoder_mb),
    )


BUNDLES: dict[str, BundleSpec] = {
    "vit-gpt2": BundleSpec(
        name="vit-gpt2",
        repo="Xenova/vit-gpt2-image-captioning",
        files=_transformers_js_layout(87.5, 156.0),
        license="Apache-2.0",
        description="nlpconnect/vit-gpt2-image-captioning (ViT + GPT-2), INT8 ONNX export",
    ),
    "distilvit": BundleSpec(
        name="distilvit",
        repo="Mozilla/distilvit",
        files=_transformers_js_layout(None, None),
        license="Apache-2.0",
        description="Mozilla distilvit (ViT + distilGPT-2), the model Firefox uses for alt text",
    ),
}


def get_spec(name: str) -> BundleSpec:
    """The registry entry ``name``; an unknown name is a ModelError listing the known ones."""
    try:
        return BUNDLES[name]
    except KeyError:
        known = ", ".join(sorted(BUNDLES))
        raise ModelError(name, f"unknown model bundle (known: {known})") from None


def hub_base_url(base_url: str | None = None) -> str:
    """The hub: ``base_url``, else ``$NANOCAPTION_HUB_URL``, else https://huggingface.co."""
    url = base_url or os.environ.get(HUB_URL_ENV, "").strip() or DEFAULT_HUB_URL
    return url.rstrip("/")
