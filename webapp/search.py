"""Title search over all movies: case- and accent-insensitive, anywhere in the title, best first."""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

MAX_QUERY_LENGTH = 100

# Letters that NFKD does not split into a base letter plus a combining mark.
_SPECIAL = str.maketrans(
    {
        "æ": "ae",
        "Æ": "ae",
        "œ": "oe",
        "Œ": "oe",
        "ø": "o",
        "Ø": "o",
        "ł": "l",
        "Ł": "l",
        "đ": "d",
        "Đ": "d",
        "ð": "d",
        "þ": "th",
        "ı": "i",
    }
)
_APOSTROPHES = re.compile(r"['’‘`´]")
_NON_WORD = re.compile(r"[\W_]+")
_LEADING_ARTICLE = re.compile(r"^(the|a|an|les|la|le|l|il|el|das|der|die|los|las|den|det) ")


_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]+")


def fold(text: str) -> str:
    """Lower-case, accent-free, punctuation-free form: "Amélie's Café!" -> "amelies cafe"."""
    if not text.isascii():
        text = _COMBINING.sub("", unicodedata.normalize("NFKD", text.translate(_SPECIAL)))
    text = text.casefold().replace("&", " and ")
    return _NON_WORD.sub(" ", _APOSTROPHES.sub("", text)).strip()


@dataclass(frozen=True)
class _Entry:
    movie_id: int
    folded: str  # "the american president"
    bare: str  # without a leading article: "american president"
    compact: str  # without spaces: "theamericanpresident"
    starts: frozenset[int]  # where each word starts in `compact`
    popularity: float

    def compact_match(self, query: str) -> bool:
        """The space-free query occurs in the space-free title from the start of a word."""
        pos = self.compact.find(query)
        while pos >= 0:
            if pos in self.starts:
                return True
            pos = self.compact.find(query, pos + 1)
        return False


class SearchIndex:
    """Folded titles of every movie; `search` ranks exact, prefix, word, substring, then loose hits."""

    def __init__(self, titles: Sequence[tuple[int, str, float]]) -> None:
        entries = []
        for movie_id, title, popularity in titles:
            folded = fold(title)
            words = folded.split()
            starts = frozenset(itertools.accumulate((len(w) for w in words[:-1]), initial=0))
            entries.append(
                _Entry(
                    int(movie_id),
                    folded,
                    _LEADING_ARTICLE.sub("", folded),
                    "".join(words),
                    starts,
                    float(popularity),
                )
            )
        # Most popular first, so a stable sort on the tier keeps popularity order within a tier.
        entries.sort(key=lambda e: (-e.popularity, len(e.folded), e.movie_id))
        self._entries = tuple(entries)
        self._folded = tuple(e.folded for e in entries)
        self._compact = tuple(e.compact for e in entries)

    def __len__(self) -> int:
        return len(self._entries)

    def search(self, query: str, limit: int = 10) -> list[int]:
        """Movie ids whose title matches the query, best matches first (at most `limit`)."""
        q = fold(query[:MAX_QUERY_LENGTH])
        if not q or limit <= 0:
            return []
        hits = [(self._tier(self._entries[i], q), i) for i, folded in enumerate(self._folded) if q in folded]
        if len(hits) < limit:
            hits += self._loose_hits(q, {i for _, i in hits})
        hits.sort()
        return [self._entries[i].movie_id for _, i in hits[:limit]]

    @staticmethod
    def _tier(entry: _Entry, q: str) -> int:
        """0 exact title, 1 title starts with the query, 2 a word starts with it, 3 elsewhere."""
        if entry.folded == q or entry.bare == q:
            return 0
        if entry.folded.startswith(q) or entry.bare.startswith(q):
            return 1
        if f" {q}" in entry.folded:
            return 2
        return 3

    def _loose_hits(self, q: str, seen: set[int]) -> list[tuple[int, int]]:
        """Tier 4: the query without spaces from a word start ("spiderman"); tier 5: every word."""
        compact = q.replace(" ", "")
        words = q.split()
        hits = [
            (4, i)
            for i, text in enumerate(self._compact)
            if compact in text and i not in seen and self._entries[i].compact_match(compact)
        ]
        if len(words) > 1:
            seen = seen | {i for _, i in hits}
            hits += [
                (5, i)
                for i, text in enumerate(self._folded)
                if words[0] in text and i not in seen and all(w in text for w in words[1:])
            ]
        return hits
