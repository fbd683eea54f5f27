"""Dims as polynomials in symbols, for shape folding (fold.py).

A dim is an integer or a polynomial in symbols (a graph input's named dims, or a fresh symbol
for a dim nothing says more about); no two symbols are ever assumed equal unless they are the
same symbol.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

Monomial = tuple[str, ...]  # sorted symbol names, repeated for powers; () is the constant term


@dataclass(frozen=True)
class Poly:
    terms: tuple[tuple[Monomial, int], ...]  # sorted, no zero coefficients

    @staticmethod
    def of(terms: dict[Monomial, int]) -> Dim:
        items = tuple(sorted((m, c) for m, c in terms.items() if c))
        if not items:
            return 0
        if len(items) == 1 and items[0][0] == ():
            return items[0][1]
        return Poly(items)

    @staticmethod
    def symbol(name: str) -> Poly:
        return Poly((((name,), 1),))

    def name(self) -> str | None:
        """The symbol's name if this is one plain symbol."""
        if len(self.terms) == 1 and self.terms[0][1] == 1 and len(self.terms[0][0]) == 1:
            return self.terms[0][0][0]
        return None


Dim = int | Poly


def _terms(d: Dim) -> dict[Monomial, int]:
    return {(): d} if isinstance(d, int) else dict(d.terms)


def add(a: Dim, b: Dim, sign: int = 1) -> Dim:
    t = _terms(a)
    for m, c in _terms(b).items():
        t[m] = t.get(m, 0) + sign * c
    return Poly.of(t)


def mul(a: Dim, b: Dim) -> Dim:
    t: dict[Monomial, int] = {}
    for (ma, ca), (mb, cb) in itertools.product(_terms(a).items(), _terms(b).items()):
        m = tuple(sorted(ma + mb))
        t[m] = t.get(m, 0) + ca * cb
    return Poly.of(t)


def product(dims: list[Dim]) -> Dim:
    """The product of `dims` (1 for none)."""
    total: Dim = 1
    for d in dims:
        total = mul(total, d)
    return total


def div(a: Dim, b: Dim) -> Dim | None:
    """a / b when it is exact for every value of the symbols, else None."""
    if isinstance(a, int) and isinstance(b, int):
        return a // b if b and a % b == 0 else None
    if a == b:
        return 1
    tb = _terms(b)
    if len(tb) != 1:
        return None
    ((mb, cb),) = tb.items()
    out: dict[Monomial, int] = {}
    for m, c in _terms(a).items():
        rest = list(m)
        for s in mb:
            if s not in rest:
                return None
            rest.remove(s)
        if c % cb:
            return None
        out[tuple(rest)] = c // cb
    return Poly.of(out)
