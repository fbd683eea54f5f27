"""Caption cleanup, on by default: the model's text is kept as it was (``Item.model_text``),
the cleaned text is what a person sees and edits, and ``Cleaned.diff`` says what changed.

The rules, in this order:

1. **Spaces.** Leading and trailing white space removed; every run of white space (doubled
   spaces, tabs, line breaks) becomes one space.
2. **Repeated phrases** (``collapse_repeats``). Words are compared ignoring case and the
   punctuation around them (``,.;:!?``). Two loops of the model are collapsed:

   a. *a phrase three times or more in a row*: a phrase of n words followed at once by the
      same phrase at least twice, each copy either directly after the one before or after one
      joining word (``and``, ``with``, ``or``, ``of``, ``on``, ``in``, ``near``, ``next``),
      keeps its first copy (with the punctuation that ended the last one): "a man a man a
      man" -> "a man", "a man, a man, a man." -> "a man.", "a dog and a dog and a dog" ->
      "a dog", "a cat with a hat with a hat with a hat" -> "a cat with a hat";
   b. *a trailing clause said twice*: the caption ends with a clause of ``MIN_CLAUSE`` (3)
      words or more followed by the same clause (after at most one joining word): the second
      copy goes. "a man riding a horse on a beach with a man riding a horse on a beach" ->
      "a man riding a horse on a beach".

   Two copies of a short phrase ("two by two", "bye bye", "a dog and a dog") and repeats
   separated by other words ("a man and a woman and a man") are left alone: they can be what
   the picture shows. Both rules run until nothing changes, so cleanup is idempotent.
3. **Capital first letter** (``capitalize``) of the caption.
4. **Trailing period** (``period``, off by default): a caption that does not end in ``.``,
   ``!``, ``?`` or ``…`` gets a ``.``.
5. **Template** (``template``, default ``"{caption}"``): the result put into it verbatim, e.g.
   ``"photo of {caption}, trending"`` for a dataset (turn ``capitalize`` off then). A text that
   already has the template's prefix and suffix is cleaned inside them, not wrapped twice.

A caption with text in it never comes out empty.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

JOINERS = frozenset({"and", "with", "or", "of", "on", "in", "near", "next"})
MIN_CLAUSE = 3
_PUNCT = ",.;:!?"
_ENDINGS = (".", "!", "?", "…")
PLACEHOLDER = "{caption}"


@dataclass(frozen=True)
class CleanupOptions:
    enabled: bool = True
    capitalize: bool = True
    collapse_repeats: bool = True
    period: bool = False
    template: str = PLACEHOLDER

    def __post_init__(self) -> None:
        if self.template.count(PLACEHOLDER) != 1:
            raise ValueError(f"the template must hold {PLACEHOLDER} once: {self.template!r}")


#: the cleanup a new caption gets unless the person chose otherwise
DEFAULT_CLEANUP = CleanupOptions()


@dataclass(frozen=True)
class Change:
    """One step of the diff, in words: ``kind`` "equal", "replace", "delete" or "insert"."""

    kind: str
    before: str
    after: str


@dataclass(frozen=True)
class Cleaned:
    text: str
    repetition: bool  # a repeated phrase was collapsed (the caption is flagged)
    diff: tuple[Change, ...]

    @property
    def changed(self) -> bool:
        return any(c.kind != "equal" for c in self.diff)


def clean(text: str, options: CleanupOptions = DEFAULT_CLEANUP) -> Cleaned:
    if not options.enabled:
        return Cleaned(text, False, _diff(text, text))
    prefix, _, suffix = options.template.partition(PLACEHOLDER)
    inner = text
    if (prefix or suffix) and _wrapped(text, prefix, suffix):
        inner = text[len(prefix) : len(text) - len(suffix)]
    words = inner.split()
    repetition = False
    if options.collapse_repeats:
        words, repetition = collapse(words)
    out = " ".join(words)
    if out and options.capitalize:
        out = out[0].upper() + out[1:]
    if out and options.period and not out.endswith(_ENDINGS):
        out += "."
    if out or text.strip():
        out = prefix + out + suffix
    return Cleaned(out, repetition, _diff(text, out))


def _wrapped(text: str, prefix: str, suffix: str) -> bool:
    return (
        len(text) >= len(prefix) + len(suffix)
        and text.startswith(prefix)
        and text.endswith(suffix)
        and bool(text[len(prefix) : len(text) - len(suffix)].strip())
    )


def _norm(word: str) -> str:
    return word.strip(_PUNCT).casefold()


def collapse(words: list[str]) -> tuple[list[str], bool]:
    """The words with repeated phrases collapsed (rules 2a and 2b), and whether any was."""
    found = False
    while True:
        keys = [_norm(w) for w in words]
        cut = _phrase_run(keys) or _trailing_clause(keys)
        if cut is None:
            return words, found
        start, end = cut
        kept, dropped = words[start - 1], words[end - 1]
        ending = dropped[len(dropped.rstrip(_PUNCT)) :]  # "a man, a man, a man." -> "a man."
        words = words[: start - 1] + [kept.rstrip(_PUNCT) + ending] + words[end:]
        found = True


def _copy_at(keys: list[str], j: int, phrase: list[str]) -> int | None:
    """End of a copy of ``phrase`` at ``j`` (or after one joining word at ``j``), else None."""
    n = len(phrase)
    if keys[j : j + n] == phrase:
        return j + n
    if j < len(keys) and keys[j] in JOINERS and keys[j + 1 : j + 1 + n] == phrase:
        return j + 1 + n
    return None


def _phrase_run(keys: list[str]) -> tuple[int, int] | None:
    """Rule 2a: (start, end) of the words to drop (every copy but the first), or None."""
    size = len(keys)
    for i in range(size):
        for n in range(1, (size - i) // 3 + 1):
            phrase = keys[i : i + n]
            if not any(phrase):  # punctuation only
                continue
            copies, j = 1, i + n
            while (end := _copy_at(keys, j, phrase)) is not None:
                copies, j = copies + 1, end
            if copies >= 3:
                return i + n, j
    return None


def _trailing_clause(keys: list[str]) -> tuple[int, int] | None:
    """Rule 2b: the last copy of a clause said twice at the end, or None."""
    size = len(keys)
    for n in range(size // 2, MIN_CLAUSE - 1, -1):
        clause = keys[size - n :]
        for gap in (0, 1):
            start = size - 2 * n - gap
            if start < 0:
                continue
            if keys[start : start + n] == clause and (gap == 0 or keys[start + n] in JOINERS):
                return start + n, size
    return None


def _diff(before: str, after: str) -> tuple[Change, ...]:
    """Word by word (``difflib``), so a person sees what cleanup did."""
    a, b = before.split(), after.split()
    ops = difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes()
    return tuple(Change(tag, " ".join(a[i1:i2]), " ".join(b[j1:j2])) for tag, i1, i2, j1, j2 in ops)
