"""Tokenization before scoring, as the COCO caption evaluation does it.

- ``ptb-java``: with Java, the Stanford PTBTokenizer jar that pycocoevalcap ships, with its
  flags (``-preserveLines -lowerCase``) and its punctuation list removed afterwards: the
  numbers COCO leaderboards report. (pycocoevalcap's own wrapper writes its temp file inside
  the installed package, which fails where site-packages is read-only; this runs the same
  command on a temp file in the system's temp folder.)
- ``ptb-python``: without Java, nltk's Penn Treebank tokenizer (``TreebankWordTokenizer``) on
  the lowercased caption, the same punctuation removed, and brackets too (Stanford writes them
  as ``-LRB-``/``-RRB-``, which the list removes). On plain captions the tokens are the same
  (tests/evaluate/test_tokenize.py checks it on the fixtures); odd typography can differ.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..ground.errors import EvaluationError
from .scorer import INSTALL_HINT, coco_caption, java

PTB_JAVA, PTB_PYTHON = "ptb-java", "ptb-python"
DESCRIPTIONS = {
    PTB_JAVA: "Stanford PTBTokenizer (Java, via pycocoevalcap), lowercased, punctuation removed",
    PTB_PYTHON: "nltk TreebankWordTokenizer (Python; Java not found or not used), lowercased, "
    "punctuation removed as pycocoevalcap does",
}
_BRACKETS = {"(", ")", "{", "}"}


def choose(use_java: bool | None = None) -> str:
    """``ptb-java`` when Java is there (or asked for), else ``ptb-python``."""
    if use_java is None:
        use_java = java() is not None
    if use_java and java() is None:
        raise EvaluationError("java", "not found on PATH (the Java tokenizer was asked for)")
    return PTB_JAVA if use_java else PTB_PYTHON


def tokenize(captions: Mapping[str, Sequence[str]], method: str) -> dict[str, list[str]]:
    """Each image's captions as space-joined tokens, by ``method`` (`choose`)."""
    keys = [k for k, caps in captions.items() for _ in caps]
    lines = [" ".join(c.split()) for caps in captions.values() for c in caps]
    tokens = _java(lines) if method == PTB_JAVA else _python(lines)
    out: dict[str, list[str]] = {k: [] for k in captions}
    for key, line in zip(keys, tokens, strict=True):
        out[key].append(line)
    return out


def _punctuation() -> set[str]:
    coco_caption()
    from pycocoevalcap.tokenizer.ptbtokenizer import PUNCTUATIONS

    return set(PUNCTUATIONS)


def _python(lines: list[str]) -> list[str]:
    try:
        from nltk.tokenize import TreebankWordTokenizer
    except ImportError as e:
        raise EvaluationError("evaluate", f"needs Java or nltk to tokenize: {INSTALL_HINT}") from e
    drop = _punctuation() | _BRACKETS
    tok = TreebankWordTokenizer()
    return [" ".join(w for w in tok.tokenize(line.lower()) if w not in drop) for line in lines]


def _java(lines: list[str]) -> list[str]:
    coco_caption()
    from pycocoevalcap.tokenizer import ptbtokenizer

    jar = Path(ptbtokenizer.__file__).parent / ptbtokenizer.STANFORD_CORENLP_3_4_1_JAR
    drop = _punctuation()
    # an empty line would vanish from the tokenizer's output: a placeholder keeps lines aligned
    marked = [line if line else "." for line in lines]
    fd, name = tempfile.mkstemp(prefix="nanocaption-ptb-", suffix=".txt")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write("\n".join(marked).encode("utf-8"))
        cmd = ["java", "-cp", str(jar), "edu.stanford.nlp.process.PTBTokenizer"]
        cmd += ["-preserveLines", "-lowerCase", "-encoding", "utf-8", name]
        done = subprocess.run(cmd, capture_output=True, check=False)
    finally:
        os.unlink(name)
    if done.returncode != 0:
        reason = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["failed"]
        raise EvaluationError(str(jar), f"the Java tokenizer failed: {reason[0]}")
    out = done.stdout.decode("utf-8", "replace").split("\n")[: len(lines)]
    if len(out) != len(lines):
        raise EvaluationError(str(jar), f"the tokenizer gave {len(out)} lines for {len(lines)}")
    return [" ".join(w for w in line.rstrip().split(" ") if w not in drop) for line in out]
