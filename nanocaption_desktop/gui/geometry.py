"""Where the window opens: its first size from the screen's free area, and a remembered
geometry kept on the screens present. Pure arithmetic on ``(x, y, width, height)`` tuples in
device-independent pixels (what ``QScreen.availableGeometry`` gives at any scaling), so it is
tested without a screen; ``window.py`` feeds it Qt's rectangles.
"""

from __future__ import annotations

Rect = tuple[int, int, int, int]  # x, y, width, height

#: The size the window likes when the screen has room (logical pixels).
PREFERRED = (1180, 760)
#: The share of the free area a first window takes at most: room for the desktop around it.
SHARE = 0.9
#: How much of a remembered window must stay on a screen for it to be left where it was:
#: the title bar's height and a grip's width, so it can be seen and dragged.
VISIBLE = (120, 40)


def first_geometry(available: Rect, preferred: tuple[int, int] = PREFERRED) -> Rect:
    """The first window: the preferred size, shrunk to ``SHARE`` of the free area (never
    beyond the area itself), centred in it."""
    x, y, w, h = available
    width = max(1, min(preferred[0], int(w * SHARE)))
    height = max(1, min(preferred[1], int(h * SHARE)))
    return (x + (w - width) // 2, y + (h - height) // 2, width, height)


def clamp_geometry(rect: Rect, screens: list[Rect], primary: Rect | None = None) -> Rect:
    """A remembered window on the screens present: on the screen it overlaps most, no bigger
    than that screen's free area and moved fully inside it; when it is on no screen now (a
    monitor unplugged), a first window on ``primary`` (or the first screen)."""
    if not screens:
        return rect
    best = max(screens, key=lambda s: _overlap(rect, s))
    ox, oy = _overlap_size(rect, best)
    if ox < min(VISIBLE[0], rect[2]) or oy < min(VISIBLE[1], rect[3]):
        return first_geometry(primary or screens[0], (rect[2], rect[3]))
    sx, sy, sw, sh = best
    width, height = min(rect[2], sw), min(rect[3], sh)
    x = min(max(rect[0], sx), sx + sw - width)
    y = min(max(rect[1], sy), sy + sh - height)
    return (x, y, width, height)


def _overlap_size(a: Rect, b: Rect) -> tuple[int, int]:
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return max(0, w), max(0, h)


def _overlap(a: Rect, b: Rect) -> int:
    w, h = _overlap_size(a, b)
    return w * h
