"""The evaluation as one self-contained HTML file: inline CSS, an inline SVG histogram, images
as base64 JPEG thumbnails; no script, font or request leaves the file. Every piece of text
(captions, file names) is escaped: captions are untrusted."""

from __future__ import annotations

import base64
import io
import os
from html import escape
from pathlib import Path

from ..ground import durable
from .result import EvaluationResult, SystemResult

SHOWN = 20  # worst and best images shown per system
THUMB = 96  # thumbnail side, pixels
BINS = 10

_CSS = """body{font:14px system-ui,sans-serif;margin:24px;color:#222}table{border-collapse:collapse;
margin:8px 0 20px}td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top;text-align:left}
th{background:#f2f2f2}.num{text-align:right;font-variant-numeric:tabular-nums}img{display:block}
.refs{color:#555;margin:0;padding-left:18px}.failed{color:#b00}small{color:#666}"""


def render(result: EvaluationResult, images: str | os.PathLike[str] | None = None) -> str:
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; "
        "img-src data:; style-src 'unsafe-inline'\">",
        f"<title>Caption evaluation</title><style>{_CSS}</style></head><body>",
        "<h1>Caption evaluation</h1>",
        _facts(result),
        _corpus(result),
    ]
    if result.comparisons:
        parts.append(_comparisons(result))
    folder = None if images is None else Path(os.fspath(images))
    for system in result.systems:
        parts.append(f"<h2>{escape(system.label)}</h2>")
        parts.append(_model(system))
        parts.append(_histogram(system))
        ranked = sorted(system.images, key=lambda r: (r.scores["CIDEr-D"], r.image))
        parts.append(_table(f"{min(SHOWN, len(ranked))} worst", ranked[:SHOWN], folder))
        parts.append(_table(f"{min(SHOWN, len(ranked))} best", ranked[::-1][:SHOWN], folder))
    parts.append("</body></html>")
    return "\n".join(parts)


def write(
    path: str | os.PathLike[str],
    result: EvaluationResult,
    images: str | os.PathLike[str] | None = None,
) -> None:
    durable.write_atomically(path, render(result, images).encode("utf-8"))


def _facts(result: EvaluationResult) -> str:
    rows = [
        (
            "References",
            f"{result.references} ({result.reference_format}, {result.reference_count} captions)",
        ),
        ("Tokenization", result.tokenization_description),
        ("Date", result.date),
        ("Settings", ", ".join(f"{k}={v}" for k, v in result.settings.items())),
    ]
    rows += [(f"{k} not computed", v) for k, v in result.not_computed.items()]
    body = "".join(f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _corpus(result: EvaluationResult) -> str:
    head = "".join(f"<th>{escape(m)}</th>" for m in result.metrics)
    rows = "".join(
        f"<tr><td>{escape(s.label)}</td>"
        + "".join(f"<td class='num'>{s.corpus[m]:.4f}</td>" for m in result.metrics)
        + "</tr>"
        for s in result.systems
    )
    return f"<h2>Corpus scores</h2><table><tr><th>System</th>{head}</tr>{rows}</table>"


def _comparisons(result: EvaluationResult) -> str:
    rows = "".join(
        f"<tr><td>{escape(c.a)}</td><td class='num'>{c.a_wins}</td><td class='num'>{c.ties}</td>"
        f"<td class='num'>{c.b_wins}</td><td>{escape(c.b)}</td></tr>"
        for c in result.comparisons
    )
    return (
        "<h2>Per-image wins (CIDEr-D)</h2><table><tr><th>A</th><th>A wins</th><th>ties</th>"
        f"<th>B wins</th><th>B</th></tr>{rows}</table>"
    )


def _model(system: SystemResult) -> str:
    if system.model is None:
        return f"<p>Predictions: {escape(system.source)}</p>"
    m = system.model
    settings = ", ".join(f"{k}={v}" for k, v in m.settings.items())
    files = "".join(
        f"<tr><td>{escape(p)}</td><td class='num'>{n}</td><td><code>{escape(h)}</code></td></tr>"
        for p, n, h in m.files
    )
    return (
        f"<p>Model {escape(m.name)} at {escape(m.path)}; settings: {escape(settings)}; "
        f"{system.captioned} captioned now, {system.resumed} from an earlier run.</p>"
        f"<table><tr><th>File</th><th>Bytes</th><th>SHA-256</th></tr>{files}</table>"
    )


def _histogram(system: SystemResult) -> str:
    values = [r.scores["CIDEr-D"] for r in system.images]
    top = max([*values, 1e-9])
    counts = [0] * BINS
    for v in values:
        counts[min(BINS - 1, int(v / top * BINS))] += 1
    width, height, bar = 420, 160, 40
    most = max(counts) or 1
    bars = []
    for i, n in enumerate(counts):
        h = round(n / most * (height - 40))
        x = i * bar + 10
        bars.append(
            f"<rect x='{x}' y='{height - 20 - h}' width='{bar - 4}' height='{h}' fill='#4a7bd0'>"
            f"<title>{i * top / BINS:.2f} to {(i + 1) * top / BINS:.2f}: {n}</title></rect>"
            f"<text x='{x + bar / 2 - 2}' y='{height - 24 - h}' font-size='10' "
            f"text-anchor='middle'>{n}</text>"
        )
    axis = (
        f"<text x='10' y='{height - 5}' font-size='10'>0</text>"
        f"<text x='{BINS * bar + 10}' y='{height - 5}' font-size='10' text-anchor='end'>"
        f"{top:.2f}</text>"
    )
    return (
        "<h3>Per-image CIDEr-D</h3>"
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
        f"role='img' aria-label='histogram of per-image CIDEr-D'>{''.join(bars)}{axis}</svg>"
    )


def _table(title: str, rows: list, folder: Path | None) -> str:
    body = []
    for r in rows:
        refs = "".join(f"<li>{escape(c)}</li>" for c in r.references)
        cand = escape(r.candidate)
        if r.failed:
            cand = f"<span class='failed'>failed: {escape(r.failed)}</span>"
        body.append(
            f"<tr><td>{_thumb(folder, r.image)}<small>{escape(r.image)}</small></td>"
            f"<td>{cand}<ul class='refs'>{refs}</ul></td>"
            f"<td class='num'>{r.scores['CIDEr-D']:.3f}</td></tr>"
        )
    return (
        f"<h3>{escape(title)}</h3><table><tr><th>Image</th><th>Candidate, references</th>"
        f"<th>CIDEr-D</th></tr>{''.join(body)}</table>"
    )


def _thumb(folder: Path | None, name: str) -> str:
    if folder is None:
        return ""
    from ..engine.images import load_image
    from ..ground.errors import ImageError

    try:
        image = load_image(folder / name)
    except ImageError:
        return "<small>(no thumbnail)</small>"
    image.thumbnail((THUMB, THUMB))
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=80)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f"<img alt='' src='data:image/jpeg;base64,{data}'>"
