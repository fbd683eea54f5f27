"""The bounds every number from a bundle's JSON or a caller's request is checked against.

One place, so that the CLI's usage errors, the API's ``ValueError`` and a bundle's ``ModelError``
all name the same limit. They are far above any real model or sensible request (the public
vit-gpt2 uses 224 px, 4 beams at most in practice, 1024 positions) and far below what would
exhaust memory (a 4096-pixel square input is 50 M floats; 16 beams x 1024 positions of GPT-2's
key/value cache is about 1.2 GB).
"""

from __future__ import annotations

#: Largest side of the model's input image (``preprocessor_config.json`` ``size``).
MAX_IMAGE_SIDE = 4096
#: Widest beam search (``num_beams`` in a bundle, ``--beams``/``beams=`` from a caller).
MAX_BEAMS = 16
#: Most new tokens a caller may ask for (``--max-tokens``/``max_new_tokens=``); a model's own
#: positions (``n_positions``) may bound it further.
MAX_NEW_TOKENS = 1024
#: Largest image (in megapixels, after a JPEG's reduced-scale decoding) that is decoded unless
#: the caller sets another limit (``--max-megapixels``, ``max_megapixels=``, the window's
#: settings). 100 MP: a stitched panorama or a scanned poster decodes (300 MB as RGB, well
#: inside a decode worker's memory cap); a decompression bomb declaring gigapixels does not.
DEFAULT_MAX_MEGAPIXELS = 100.0
#: The range a caller may set it to.
MIN_MEGAPIXELS, MAX_MEGAPIXELS = 1.0, 1000.0
#: A JPEG up to this many pixels is decoded at full size, so captions of ordinary photos stay
#: exactly as they were; a larger one is decoded at 1/2, 1/4 or 1/8 scale by libjpeg's DCT
#: scaling (Pillow's ``draft``), never below what the caller needs (the model's input size,
#: the preview's), so a 200 MP camera JPEG needs tens of MB, not 600.
JPEG_FULL_DECODE_PIXELS = 50_000_000
#: Most images decoded together in one lane (``--rows``/``rows=``, engine/rows.py): what the rows
#: graph's derive check proves bit for bit against each image alone (engine/derive/rows_copy.py).
MAX_ROWS = 8
