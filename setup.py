"""The one compiled part of the app: NanoCaption's own integer weight products, an onnxruntime
custom-op library (nanocaption_desktop/engine/kernels/products.c, issue 18). Optional: where
there is no C compiler (or it fails) the package installs without it and the app runs
onnxruntime's own products, every caption the same. Everything else is in pyproject.toml."""

import sys

from setuptools import Extension, setup

# The kernel functions carry their own `target` attributes (AVX512-VNNI), so the library loads
# on any x86-64 CPU and says at run time whether it can be used; no -march flag. No
# multiply-add contraction: the float steps must round as onnxruntime's Cast, Mul and Add do.
FLAGS = [] if sys.platform == "win32" else ["-O3", "-fvisibility=hidden", "-ffp-contract=off"]

setup(
    ext_modules=[
        Extension(
            "nanocaption_desktop.engine.kernels._products",
            sources=[
                "nanocaption_desktop/engine/kernels/products.c",
                "nanocaption_desktop/engine/kernels/exact.c",
                "nanocaption_desktop/engine/kernels/step.c",
            ],
            depends=["nanocaption_desktop/engine/kernels/kernels.h"],
            extra_compile_args=FLAGS,
            optional=True,
        )
    ]
)
