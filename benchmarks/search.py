"""Title search on one build: the search index against the plain ranking, query by query:

    python benchmarks/search.py [TRAINED_DATA] [--repeat 20]

`PlainIndex` is the ranking spelled out (every title's tier, then rank order), as the search
ran before the index scanned joined texts: one Python step per title per query. The
tests check that the two give the same ids; this prints what each costs per query (ms) and the
ratio. A script, not a test: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from webapp.search import _LEADING_ARTICLE, MAX_QUERY_LENGTH, SearchIndex, fold  # noqa: E402

QUERIES = ("s", "st", "star", "the", "love", "star wars", "amelie", "spiderman", "zzzq", "a b")


class PlainIndex:
    """The ranking spelled out, titles folded once: every query looks at every title."""

    def __init__(self, titles: Sequence[tuple[int, str, float]]) -> None:
        ranked = sorted((-float(pop), len(fold(t)), int(m), fold(t)) for m, t, pop in titles)
        self.entries = [
            (
                movie_id,
                folded,
                _LEADING_ARTICLE.sub("", folded),
                "".join(folded.split()),
                tuple(itertools.accumulate((len(w) for w in folded.split()[:-1]), initial=0)),
            )
            for _, _, movie_id, folded in ranked
        ]

    def search(self, query: str, limit: int, accept: Callable[[int], bool] | None = None) -> list[int]:
        """Movie ids by (tier, rank): 0 exact title (or without its leading article), 1 starts
        with the query, 2 a word starts with it, 3 anywhere; 4 the query without spaces from a
        word start; 5 every word. Rank: most popular, then shorter title, then movie id."""
        q = fold(query[:MAX_QUERY_LENGTH])
        if not q or limit <= 0:
            return []
        words = q.split()
        compact = "".join(words)
        hits = []
        for rank, (movie_id, folded, bare, joined, starts) in enumerate(self.entries):
            if q in folded:
                if q in (folded, bare):
                    tier = 0
                elif folded.startswith(q) or bare.startswith(q):
                    tier = 1
                else:
                    tier = 2 if f" {q}" in folded else 3
            elif compact in joined and any(joined.startswith(compact, s) for s in starts):
                tier = 4
            elif len(words) > 1 and all(w in folded for w in words):
                tier = 5
            else:
                continue
            if accept is None or accept(movie_id):
                hits.append((tier, rank, movie_id))
        return [movie_id for _, _, movie_id in sorted(hits)[:limit]]


def _timed(fn: Callable[[], object], repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trained_data", nargs="?", type=Path, default=ROOT / "trained_data")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    from webapp.store import load_store

    store = load_store(args.trained_data)
    titles = [(m.movie_id, m.title, m.rating_count) for m in store.movies.values()]
    index, plain = SearchIndex(titles), PlainIndex(titles)
    print(f"{len(titles):,} titles in {args.trained_data}; limit 24, as the picker asks")
    print(f"{'query':12} {'plain ms':>9} {'index ms':>9} {'ratio':>7}")
    plain_total = index_total = 0.0
    for q in QUERIES:
        assert plain.search(q, 24) == index.search(q, 24), q
        slow = _timed(functools.partial(plain.search, q, 24), max(1, args.repeat // 10))
        fast = _timed(functools.partial(index.search, q, 24), args.repeat)
        plain_total, index_total = plain_total + slow, index_total + fast
        print(f"{q!r:12} {slow:9.2f} {fast:9.3f} {slow / fast:6.0f}x")
    print(f"{'all':12} {plain_total:9.2f} {index_total:9.3f} {plain_total / index_total:6.0f}x")


if __name__ == "__main__":
    main()
