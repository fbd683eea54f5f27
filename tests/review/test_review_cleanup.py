"""Caption cleanup (review/cleanup.py): each rule, the repeat rule's edges, and properties."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nanocaption_desktop.review.cleanup import (
    Change,
    CleanupOptions,
    clean,
    collapse,
)


@pytest.mark.parametrize(
    ("raw", "cleaned"),
    [
        ("a man a man a man", "A man"),
        ("a dog and a dog and a dog", "A dog"),
        ("a cat with a hat with a hat with a hat", "A cat with a hat"),
        ("a man a man a man a man a man riding a bike", "A man riding a bike"),
        ("A Man, a man, a man.", "A Man."),  # case and punctuation do not hide a loop
        (
            "a man riding a horse on a beach with a man riding a horse on a beach",
            "A man riding a horse on a beach",
        ),
        (
            "a kitchen with a stove and a stove and a stove and a sink",
            "A kitchen with a stove and a sink",
        ),
        ("  a   boat\t on\na lake  ", "A boat on a lake"),
    ],
)
def test_loops_and_spaces_are_cleaned(raw: str, cleaned: str) -> None:
    assert clean(raw).text == cleaned


@pytest.mark.parametrize(
    "legit",
    [
        "two by two",
        "bye bye",
        "a dog and a dog",  # twice only: may be what the photo shows
        "a man and a woman and a man",  # separated by other words
        "a red and white and blue flag",
        "side by side",
        "a train on a track on a bridge",
    ],
)
def test_legitimate_repeats_are_left_alone(legit: str) -> None:
    result = clean(legit)
    assert result.text == legit[0].upper() + legit[1:]
    assert not result.repetition


def test_the_diff_says_what_changed() -> None:
    result = clean("a man a man a man")
    assert result.repetition and result.changed
    assert result.diff == (Change("replace", "a", "A"), Change("equal", "man", "man"),
                           Change("delete", "a man a man", ""))  # fmt: skip
    assert not clean("A boat.").changed


def test_period_template_and_switches() -> None:
    assert clean("a boat", CleanupOptions(period=True)).text == "A boat."
    assert clean("a boat?", CleanupOptions(period=True)).text == "A boat?"
    dataset = CleanupOptions(capitalize=False, template="photo of {caption}, trending")
    assert clean("a boat", dataset).text == "photo of a boat, trending"
    assert clean("photo of a boat, trending", dataset).text == "photo of a boat, trending"
    assert clean("a man a man a man", CleanupOptions(collapse_repeats=False)).text == (
        "A man a man a man"
    )
    off = clean("  a man a man a man ", CleanupOptions(enabled=False))
    assert off.text == "  a man a man a man " and not off.changed
    with pytest.raises(ValueError, match="must hold"):
        CleanupOptions(template="no placeholder")


words = st.sampled_from(["a", "man", "dog", "and", "with", "the", "A", "Man,", "on", "two", "."])
captions = st.one_of(
    st.lists(words, max_size=30).map(" ".join),
    st.text(max_size=60),
)
option_sets = st.builds(
    CleanupOptions,
    capitalize=st.booleans(),
    collapse_repeats=st.booleans(),
    period=st.booleans(),
    template=st.sampled_from(
        ["{caption}", "photo of {caption}, trending", "{caption}!", "x {caption}"]
    ),
)


@settings(max_examples=300, deadline=None)
@given(captions, option_sets)
def test_cleanup_is_idempotent_and_never_empties_a_caption(text: str, options) -> None:
    once = clean(text, options)
    assert clean(once.text, options).text == once.text
    if text.strip():
        assert once.text.strip()


@settings(max_examples=300, deadline=None)
@given(st.lists(words, min_size=1, max_size=30))
def test_collapse_only_removes_words_and_keeps_the_first_copy(ws: list[str]) -> None:
    out, found = collapse(ws)
    assert out and (found or out == ws)

    # what is left is the original with some spans cut out: a subsequence, starting the same
    def key(w: str) -> str:
        return w.strip(",.;:!?").casefold()

    it = iter([key(w) for w in ws])
    assert all(any(key(w) == v for v in it) for w in out)
    assert key(out[0]) == key(ws[0])
