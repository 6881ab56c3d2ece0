"""Title search over all movies: case- and accent-insensitive, anywhere in the title, best first."""

from __future__ import annotations

import itertools
import re
import unicodedata
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence

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


class _Texts:
    """One text per movie, joined as "\n" + t0 + "\n" + t1 + ... + "\n", so that str.find (C code)
    scans them all at once; `starts[i]` is where text i begins."""

    def __init__(self, texts: Sequence[str]) -> None:
        self.blob = "\n" + "\n".join(texts) + "\n"
        starts = array("q")
        position = 1
        for text in texts:
            starts.append(position)
            position += len(text) + 1
        starts.append(position)  # one past the end: text i ends at starts[i + 1] - 1
        self.starts = starts

    def __getitem__(self, i: int) -> str:
        return self.blob[self.starts[i] : self.starts[i + 1] - 1]

    def holding(self, pattern: str) -> Iterator[int]:
        """The texts that hold pattern, in order, each once. A pattern may begin and end with
        "\n", to match at the start or the end of a text."""
        blob, starts = self.blob, self.starts
        lead = 1 if pattern.startswith("\n") else 0  # the match begins on the "\n" before its text
        position = blob.find(pattern)
        while position >= 0:
            i = bisect_right(starts, position + lead) - 1
            yield i
            position = blob.find(pattern, starts[i + 1] - 1)  # on to the next text


def _word_starts(folded: str) -> set[int]:
    """Where each word of a folded title starts once its spaces are removed."""
    return set(itertools.accumulate((len(w) for w in folded.split()[:-1]), initial=0))


def _at_word_start(compact: str, query: str, folded: str) -> bool:
    """The space-free query occurs in the space-free title from the start of a word."""
    starts = _word_starts(folded)
    pos = compact.find(query)
    while pos >= 0:
        if pos in starts:
            return True
        pos = compact.find(query, pos + 1)
    return False


class SearchIndex:
    """Folded titles of every movie, most popular first; `search` ranks exact, prefix, word,
    substring, then loose hits.

    The titles are kept three ways (folded, without a leading article, without spaces), each
    joined into one string. A search scans them tier by tier with str.find and stops a tier
    once it has enough of that tier's hits: it costs about what its results cost, not a Python
    step per movie (on 70,711 titles a one-letter query took 43 ms that way).
    """

    def __init__(self, titles: Sequence[tuple[int, str, float]]) -> None:
        rows = sorted(  # most popular first, then shorter titles, then movie id
            (-float(popularity), len(folded), int(movie_id), folded)
            for movie_id, title, popularity in titles
            for folded in (fold(title),)
        )
        self._ids = array("q", (row[2] for row in rows))
        folded = [row[3] for row in rows]
        bare = [_LEADING_ARTICLE.sub("", f) for f in folded]
        self._folded = _Texts(folded)
        self._bare = _Texts(bare)
        self._compact = _Texts(["".join(f.split()) for f in folded])
        # Exact titles by hash, sorted (two int arrays, not a dict of 70,000 strings): a scan
        # for "\nquery\n" read the whole text for the few queries that are a title.
        pairs = sorted((hash(text), i) for texts in (folded, bare) for i, text in enumerate(texts))
        self._exact_hashes = array("q", (h for h, _ in pairs))
        self._exact_owners = array("q", (i for _, i in pairs))

    def __len__(self) -> int:
        return len(self._ids)

    def search(self, query: str, limit: int = 10, accept: Callable[[int], bool] | None = None) -> list[int]:
        """Movie ids whose title matches the query, best matches first (at most `limit`); with
        `accept`, only the movie ids it accepts (a genre), as if the others were not there."""
        q = fold(query[:MAX_QUERY_LENGTH])
        if not q or limit <= 0:
            return []
        words = q.split()
        compact = "".join(words)
        found: list[int] = []
        for tier, candidates in enumerate(self._candidates(q, words, compact)):
            need = limit - len(found)
            hits: set[int] = set()
            for ranked in candidates:  # each yields movies in rank order
                taken = 0
                for i in ranked:
                    if self._tier(i, q, words, compact) == tier and (accept is None or accept(self._ids[i])):
                        hits.add(i)
                        taken += 1
                        if taken == need:
                            break
            found += sorted(hits)[:need]
            if len(found) >= limit:
                break
        return [self._ids[i] for i in found]

    def _candidates(self, q: str, words: list[str], compact: str) -> list[list[Iterable[int]]]:
        """Per tier, where its hits are (each a superset of them, in rank order; lazy: a scan
        runs only when its tier is reached)."""
        folded, bare = self._folded, self._bare
        substring = q in folded.blob  # one scan, ending at the first hit; if none, no tier 0-3
        return [
            [self._exact(q)] if substring else [],
            [folded.holding(f"\n{q}"), bare.holding(f"\n{q}")] if substring else [],
            [folded.holding(f" {q}")] if substring else [],
            [folded.holding(q)] if substring else [],
            [self._compact.holding(compact)],
            [self._every_word(words)] if len(words) > 1 else [],
        ]

    def _every_word(self, words: list[str]) -> Iterator[int]:
        """Tier 5's candidates: the titles holding every word, found by scanning for the longest
        (nothing at all when a word is in no title)."""
        folded = self._folded
        if all(w in folded.blob for w in words):
            yield from (i for i in folded.holding(max(words, key=len)) if all(w in folded[i] for w in words))

    def _exact(self, q: str) -> Iterator[int]:
        """The movies whose folded title, or title without its leading article, may be q (by hash;
        _tier checks), in rank order."""
        h = hash(q)
        lo, hi = bisect_left(self._exact_hashes, h), bisect_right(self._exact_hashes, h)
        return iter(sorted(set(self._exact_owners[lo:hi])))

    def _tier(self, i: int, q: str, words: list[str], compact: str) -> int | None:
        """0 exact title, 1 title starts with the query, 2 a word starts with it, 3 elsewhere;
        4 the query without spaces from a word start ("spiderman"); 5 every word; None: no hit."""
        folded = self._folded[i]
        if q in folded:
            bare = self._bare[i]
            if folded == q or bare == q:
                return 0
            if folded.startswith(q) or bare.startswith(q):
                return 1
            return 2 if f" {q}" in folded else 3
        if compact in (text := self._compact[i]) and _at_word_start(text, compact, folded):
            return 4
        if len(words) > 1 and all(w in folded for w in words):
            return 5
        return None
