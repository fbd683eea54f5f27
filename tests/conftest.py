"""Shared fixtures: the tiny model bundle under tests/fixtures and its reference outputs."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from fixture_paths import FIXTURES, IMAGES_DIR, TINY_BUNDLE

# Collapsing memory onto huge pages (engine/hugepages.py) changes no byte and costs a background
# thread CPU time; off for the tests (and the processes they start) but its own, which turn it on.
os.environ.setdefault("NANOCAPTION_HUGE_PAGES", "0")


@pytest.fixture(scope="session")
def tiny_bundle() -> Path:
    return TINY_BUNDLE


@pytest.fixture(scope="session")
def fixture_images() -> list[Path]:
    return sorted(IMAGES_DIR.iterdir())


@pytest.fixture(scope="session")
def expected() -> dict[str, Any]:
    return json.loads((FIXTURES / "expected.json").read_text())


@pytest.fixture(scope="session")
def captioner():
    """The INT8 tiny model as the app loads it by default (one per session: loading takes time)."""
    from nanocaption_desktop.engine import Captioner

    return Captioner.load(TINY_BUNDLE)


_FIGURES: list[tuple[str, str]] = []


@pytest.fixture(scope="session")
def figures():
    """`figures(title, text)`: measured figures shown in the terminal summary of every run."""

    def add(title: str, text: str) -> None:
        _FIGURES.append((title, text.rstrip()))

    return add


def pytest_terminal_summary(terminalreporter) -> None:
    if _FIGURES:
        terminalreporter.section("figures measured by the tests")
        for title, text in _FIGURES:
            terminalreporter.write_line(f"{title}:")
            for line in text.splitlines():
                terminalreporter.write_line(f"  {line}")


def pytest_runtest_logreport(report) -> None:
    """What a passing test printed is a figure it measured: show it in the summary too."""
    if report.when == "call" and report.passed and report.capstdout.strip():
        _FIGURES.append((report.nodeid, report.capstdout.strip()))


@pytest.fixture
def read_only(monkeypatch):
    """`read_only(folder)`: creating files under `folder` fails as it does for a user without
    write permission (chmod 555; for root, who writes anyway, `os.open` with O_CREAT refused)."""
    import errno
    import os

    made: list[Path] = []
    real_open = os.open
    denied: list[str] = []

    def deny(path, flags, *a, **kw):
        p = os.fspath(path)
        if flags & os.O_CREAT and any(p.startswith(d) for d in denied):
            raise PermissionError(errno.EACCES, "Permission denied", p)
        return real_open(path, flags, *a, **kw)

    def make(folder: Path) -> None:
        os.chmod(folder, 0o555)
        made.append(folder)
        if os.geteuid() == 0:
            denied.append(str(folder))
            monkeypatch.setattr(os, "open", deny)

    yield make
    for folder in made:
        os.chmod(folder, 0o755)
