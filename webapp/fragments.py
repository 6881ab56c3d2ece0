"""Rendered HTML kept for reuse: cards, pick summaries and the result page's frame.

Most of a result page is the same for every set of picks: the frame around the lists, each
movie's card, each pick's summary. Those are rendered once by their Jinja templates and cached
(per build and script root, see `html_key`); a request then only joins the cached parts with what
is its own (the reasons, the links that carry its picks), escaped exactly as Jinja escapes them.
Tests check each joined result against the plain template rendering.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, render_template, request
from markupsafe import Markup, escape

from webapp import CARDS_KEY, current_store
from webapp.movies import Movie
from webapp.urls import movie_url

# Text no title, reason or URL contains: rendered in place of a per-request value, it marks where
# that value goes in the cached markup.
_MARK = "\x00{}\x00"
_MARKS = re.compile("\x00([a-z_]+)\x00")
# The indentation the result page's lists had when they were Jinja loops (kept byte for byte).
LIST_ITEM = "\n      "


def html_key(*parts: object) -> tuple[object, ...]:
    """A cache key for rendered HTML: its parts and the request's script root. The links in the
    HTML start with the prefix a proxy mounts the app under (SCRIPT_NAME); markup rendered under
    one prefix must not be served under another."""
    return (request.script_root, *parts)


class Parts:
    """The cached fragments of the current build under the current script root. A page makes one
    and asks it for all its fragments (the request, the app and the store are looked up once)."""

    def __init__(self) -> None:
        self._cache = current_app.extensions[CARDS_KEY]
        self._prefix = html_key(current_store().build_id)
        self._macros = current_app.jinja_env.get_template("_macros.html").module

    def get(self, key: tuple[object, ...], make: Callable[[], Any]) -> Any:
        """The cached value for key (within this build and script root), else make()'s."""
        return self._cache.get_or_make(self._prefix + key, make)

    def macro(self, name: str, *args: object) -> str:
        """A _macros.html macro's output."""
        return str(getattr(self._macros, name)(*args))

    def cut(self, name: str, movie: Movie, *args: object) -> list[str]:
        """A macro's output for one movie, cut where the marked arguments go (cached)."""

        def render() -> list[str]:
            parts = _MARKS.split(self.macro(name, movie, *args))
            wanted = [a.strip("\x00") for a in args if isinstance(a, str) and a.startswith("\x00")]
            if parts[1::2] != wanted:  # the macro changed shape: fail loudly, not with broken pages
                raise RuntimeError(f"{name} macro output has slots {parts[1::2]}, expected {wanted}")
            return parts[0::2]

        return self.get((name, movie.movie_id, *args), render)

    def result_card(self, movie: Movie, head: str, detail: str) -> str:
        """Exactly the result_card macro's output, from the cached card parts and this reason
        (escaped just as the macro's autoescaping does). A card without a detail has no <span>:
        its parts are cut from a rendering without one."""
        if detail:
            before, middle, after = self.cut(
                "result_card", movie, _MARK.format("head"), _MARK.format("detail")
            )
            return f"{before}{escape(head)}{middle}{escape(detail)}{after}"
        before, after = self.cut("result_card", movie, _MARK.format("head"), "")
        return f"{before}{escape(head)}{after}"

    def pick_summary(self, movie: Movie, change_url: str) -> str:
        """Exactly the pick_summary macro's output (one of the three picks on the result page)."""
        before, after = self.cut("pick_summary", movie, _MARK.format("change_url"))
        return f"{before}{escape(change_url)}{after}"

    def results_frame(self, level: str) -> "Frame":
        """results.html for this build, script root and less-known level, with slots for the
        request's own values (RESULT_SLOTS)."""
        store = current_store()
        return self.get(
            ("results_frame", level),
            lambda: Frame.render("results.html", RESULT_SLOTS, store=store, level=level, levels=store.levels),
        )


def list_items(items: Iterable[str]) -> Markup:
    """Items one per line, as the result page's lists are laid out."""
    return Markup("".join([LIST_ITEM + str(item) for item in items]))


@dataclass(frozen=True)
class Frame:
    """A template rendered once with marks in place of some values, cut at the marks: `fill`
    puts a request's values in (str values escaped as Jinja would, Markup as it is)."""

    parts: tuple[str, ...]  # fixed text, the first slot's name, fixed text, ...

    @classmethod
    def render(cls, template: str, slots: Iterable[str], **context: Any) -> "Frame":
        names = list(slots)
        marks = {name: Markup(_MARK.format(name)) for name in names}
        parts = tuple(_MARKS.split(render_template(template, **context, **marks)))
        if sorted(parts[1::2]) != sorted(names):
            raise RuntimeError(f"{template} has slots {parts[1::2]}, expected {names}")
        return cls(parts)

    def fill(self, values: Mapping[str, str]) -> str:
        """The page with these values in its slots."""
        out = list(self.parts)
        for n in range(1, len(out), 2):
            value = values[out[n]]
            out[n] = value if isinstance(value, Markup) else str(escape(value))
        return "".join(out)

    def bind(self, values: Mapping[str, str]) -> "Frame":
        """These values in their slots, the other slots kept (a page cached but for its form
        token, which is the visitor's own)."""
        out: list[str] = [self.parts[0]]
        for n in range(1, len(self.parts), 2):
            name, after = self.parts[n], self.parts[n + 1]
            if name in values:
                value = values[name]
                text = str(value) if isinstance(value, Markup) else str(escape(value))
                out[-1] = out[-1] + text + after  # plain str: Markup + str would escape `after`
            else:
                out += [name, after]
        return Frame(tuple(out))


RESULT_SLOTS = (
    "picks_title",
    "pick_summaries",
    "popular_cards",
    "less_known_cards",
    "gems_url",
    "known_url",
    "marks_section",
    "feedback_fields",
    "csrf_token",
)


# ---------------------------------------------------------------------------- template global
def pick_card_html(movie: Movie, is_picked: bool, hidden: bool = False, picks: Sequence[int] = ()) -> Markup:
    """One catalog or search card (the _macros.html pick_card), rendered once and reused; its
    link to the movie's page carries the picks so far (the one per-request slot)."""
    before, after = Parts().cut(
        "pick_card",
        movie,
        frozenset({movie.movie_id} if is_picked else ()),
        bool(hidden),
        _MARK.format("about_url"),
    )
    return Markup(f"{before}{escape(movie_url(movie.movie_id, picks))}{after}")


def init_app(app: Flask) -> None:
    """The template globals: picker.html's cards, and every page's links to movie pages."""
    app.add_template_global(pick_card_html)
    app.add_template_global(movie_url)
