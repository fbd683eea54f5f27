"""`evaluate`: score captions against references (COCO caption metrics), compare models, write
a self-contained HTML report. Exit codes: 0 scored, 2 bad input, model or missing library,
130 interrupted (a rerun resumes the captioning)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

HELP = """REFERENCES: COCO captions JSON, Flickr8k captions.txt or Flickr8k.token.txt, or a CSV
'image,caption' (several rows per image). Candidates come from --predictions (our batch CSV or
JSONL) or --model (captions the reference images in --images first, resumably); repeat either
to compare systems side by side (per-image wins by CIDEr-D). Metrics: BLEU-1..4, ROUGE-L,
CIDEr-D by pycocoevalcap, and METEOR when Java is on PATH; the tokenization is printed."""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "evaluate", help="score captions against references", description=HELP
    )
    p.add_argument("references", metavar="REFERENCES")
    p.add_argument("--predictions", action="append", metavar="FILE", default=[])
    p.add_argument("--model", action="append", metavar="NAME|DIR", dest="models", default=[])
    p.add_argument("--images", metavar="DIR", help="the reference images (needed by --model)")
    p.add_argument("--report", metavar="FILE.html", help="write a self-contained HTML report")
    p.add_argument("--json", action="store_true", help="print the full result as JSON")
    p.add_argument("--beams", type=int, metavar="N", help="beam search width for --model")
    p.add_argument("--max-tokens", type=int, metavar="N", help="most new tokens for --model")
    p.add_argument("--no-java", action="store_true", help="Python tokenization, no METEOR")
    p.add_argument("--work", metavar="DIR", help="where --model keeps captions and journals")
    p.set_defaults(handler=run)
    return p


def run(args: argparse.Namespace) -> int:
    from .evaluation import evaluate
    from .evaluation.report import write
    from .ground.errors import ModelError, NanoCaptionError

    if not args.predictions and not args.models:
        print("evaluate: give --predictions FILE or --model NAME|DIR", file=sys.stderr)
        return 2
    try:
        result = evaluate(
            args.references,
            predictions=args.predictions,
            model=args.models,
            images=args.images,
            beams=args.beams,
            max_new_tokens=args.max_tokens,
            java=False if args.no_java else None,
            work=args.work,
            progress=_progress,
        )
        if args.report:
            write(args.report, result, args.images)
    except (ModelError, NanoCaptionError, ValueError) as e:
        print(f"evaluate: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"evaluate: {e.filename or ''}: {e.strerror or e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result.to_json(), ensure_ascii=False, indent=1))
    else:
        print(text(result, args.report))
    return 0


def _progress(result: Any) -> None:
    p = result.progress
    if p is not None and sys.stderr.isatty():
        print(f"\rcaptioning {p.finished}/{p.total or '?'}", end="", file=sys.stderr)


def text(result: Any, report: str | None = None) -> str:
    """The plain-text summary: one line per system, the comparisons, what was not computed."""
    lines = [
        f"references: {result.references} ({result.reference_format}, "
        f"{len(result.systems[0].images)} images, {result.reference_count} captions)",
        f"tokenization: {result.tokenization_description}",
    ]
    width = max(len(s.label) for s in result.systems)
    lines.append(" ".join([f"{'system':<{width}}", *(f"{m:>8}" for m in result.metrics)]))
    for s in result.systems:
        cells = [f"{s.corpus[m]:>8.4f}" for m in result.metrics]
        lines.append(" ".join([f"{s.label:<{width}}", *cells]))
        failed = sum(1 for r in s.images if r.failed)
        if failed:
            lines.append(f"  {failed} image(s) failed, scored as an empty caption")
        if s.model is not None:
            lines.append(f"  {s.captioned} captioned now, {s.resumed} resumed from an earlier run")
    for c in result.comparisons:
        lines.append(
            f"per-image CIDEr-D: {c.a} wins {c.a_wins}, {c.b} wins {c.b_wins}, ties {c.ties}"
        )
    for name, why in result.not_computed.items():
        lines.append(f"{name} not computed: {why}")
    if report:
        lines.append(f"report: {report}")
    return "\n".join(lines)
