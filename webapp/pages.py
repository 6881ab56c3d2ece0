"""HTML pages: the picker (`/`) and the shareable result page (`/recommendations?movie_ids=...`).

Works as plain HTML forms: the picker form POSTs (CSRF-protected) and is answered with a redirect
to a GET URL, so a result URL holds the picks, changes nothing and can be shared. The same holds
for feedback (webapp/feedback_views.py): a result URL also holds the visitor's marks.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from flask import (
    Blueprint,
    Response,
    current_app,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup, escape
from werkzeug.wrappers import Response as WerkzeugResponse

from webapp import PAGES_KEY, current_store, fragments
from webapp.build_figures import EVALUATE_COMMAND, build_figures
from webapp.marks import PageState
from webapp.movies import Movie
from webapp.picks import PickCheck, check_text_picks
from webapp.recommend import PICKS_REQUIRED, Recommendation
from webapp.recommendation import HEAD_VERBS, reason_head
from webapp.search import MAX_QUERY_LENGTH
from webapp.store import Store
from webapp.urls import movie_url, page_path, picks_url

bp = Blueprint("pages", __name__)
SEARCH_RESULTS = 24
DEFAULT_LEVEL = "gems"


def _query() -> str:
    return request.values.get("q", "").strip()[:MAX_QUERY_LENGTH]


def _genre(store: Store) -> str:
    genre = request.values.get("genre", "")
    return genre if genre in store.genres else ""


def render_picker(store: Store, check: PickCheck, status: int = 200) -> tuple[str, int, dict]:
    """The picker page with these picks in the tray and these errors shown."""
    q, genre = _query(), _genre(store)
    picks = [store.movies[m] for m in check.ids]
    html = render_template(
        "picker.html",
        store=store,
        picks=picks,
        picked={m.movie_id for m in picks},
        pick_ids=check.ids,
        errors=check.errors,
        q=q,
        genre=genre,
        picks_required=PICKS_REQUIRED,
        found=store.search(q, SEARCH_RESULTS, genre or None) if q else [],
    )
    return html, status, {"Cache-Control": "private, no-store"}


def picker_url(ids: Sequence[int], q: str = "", genre: str = "", anchor: str | None = None) -> str:
    """The GET URL of the picker in a given state."""
    return url_for("pages.picker", movie_ids=list(ids), q=q or None, genre=genre or None, _anchor=anchor)


@bp.get("/")
def picker():
    """The catalog grid, the search box and the tray with the picks so far (from the URL)."""
    store = current_store()
    check = check_text_picks(store, request.args.getlist("movie_ids"), need_three=False)
    return render_picker(store, check, 400 if check.errors else 200)


@bp.post("/")
def update_picks() -> WerkzeugResponse:
    """No-JavaScript search, filter, add and remove: apply the form, then show it again by GET."""
    store = current_store()
    removed = request.form.get("remove", "")
    values = [v for v in request.form.getlist("movie_ids") if v != removed]
    check = check_text_picks(store, values, need_three=False)
    q, genre = _query(), _genre(store)
    anchor = "results" if q else ("tray" if removed else "catalog")
    return redirect(picker_url(check.ids, q, genre, anchor), 303)


@bp.post("/recommendations")
def submit_picks():
    """The picker form's submit: three good picks go to the shareable result URL."""
    store = current_store()
    check = check_text_picks(store, request.form.getlist("movie_ids"))
    if not check.ok:
        return render_picker(store, check, 400)
    return redirect(url_for("pages.recommendations", movie_ids=list(check.ids)), 303)


@bp.get("/recommendations")
def recommendations():
    """Three picks (and any marks), five popular and five less-known recommendations. The page is
    rendered once per build and state, but for the form token, which is the visitor's own."""
    from webapp.feedback_views import read_state

    store = current_store()
    state, errors = read_state(store, request.args)
    if state is None:
        check = check_text_picks(store, request.args.getlist("movie_ids"), need_three=False)
        return render_picker(store, PickCheck(check.ids, tuple(errors)), 400)
    level = request.args.get("less_known", DEFAULT_LEVEL)
    level = level if level in store.levels else DEFAULT_LEVEL
    page = current_app.extensions[PAGES_KEY].get_or_make(
        fragments.html_key(store.build_id, state, level), lambda: _render_results(store, state, level)
    )
    return page.fill({"csrf_token": generate_csrf()})


def _render_results(store: Store, state: PageState, level: str) -> fragments.Frame:
    """The result page: the cached frame of results.html filled with this state's values, all
    but the form token."""
    ids = state.picks
    result = store.recommend_profile(state.profile(), store.levels[level])
    picks = [store.movies[m] for m in ids]
    parts = fragments.Parts()
    change_urls = [picks_url("pages.picker", [p for p in ids if p != m], anchor="search") for m in ids]
    base = page_path("pages.recommendations") + "?"
    return parts.results_frame(level).bind(
        {
            "picks_title": ", ".join(m.title for m in picks),
            "pick_summaries": fragments.list_items(map(parts.pick_summary, picks, change_urls)),
            "popular_cards": _cards(store, parts, result.popular),
            "less_known_cards": _cards(store, parts, result.less_known),
            "gems_url": base + state.query() + "#less-known",
            "known_url": base + state.query(less_known="known") + "#less-known",
            "marks_section": _marks_section(store, parts, state),
            "feedback_fields": _feedback_fields(store, state, level, result),
        }
    )


def _cards(store: Store, parts: fragments.Parts, recs: Sequence[Recommendation]) -> Markup:
    return fragments.list_items(
        parts.result_card(store.movies[r.movie_id], _linked_head(store, parts, r), r.reason_detail)
        for r in recs
        if r.movie_id in store.movies
    )


def _linked_head(store: Store, parts: fragments.Parts, rec: Recommendation) -> str | Markup:
    """The reason's head with each pick it names linked to that movie's page: the same text
    (the recommender's titles are the pages' titles), else the plain head. Cached: a page's ten
    name few distinct sets of picks, and the same heads come back across pages."""
    return parts.get(
        ("linked_head", rec.because_of, rec.reason_head),
        functools.partial(_make_linked_head, store, parts, rec),
    )


def _make_linked_head(store: Store, parts: fragments.Parts, rec: Recommendation) -> str | Markup:
    found = [store.movies.get(m) for m in rec.because_of]
    named = [m for m in found if m is not None]
    if not named or len(named) < len(found):
        return rec.reason_head
    titles = [m.title for m in named]
    verb = next((v for v in HEAD_VERBS if rec.reason_head == reason_head(v, titles)), None)
    if verb is None:
        return rec.reason_head
    links = [parts.get(("movie_link", m.movie_id), functools.partial(_movie_link, m)) for m in named]
    return reason_head(verb, links, Markup)  # the first few linked, then "and N more", as the text


def _movie_link(movie: Movie) -> Markup:
    return Markup('<a href="{}">{}</a>').format(movie_url(movie.movie_id), movie.title)


def _feedback_fields(store: Store, state: PageState, level: str, result) -> Markup:
    """The feedback form's hidden fields: the state, the level, the build, what was shown."""
    shown = [(f"shown_{r.section}", str(r.movie_id)) for r in result.all()]
    extra = [("less_known", level), ("build_id", store.build_id)] + shown
    return state.hidden_fields() + Markup(
        "".join(f'<input type="hidden" name="{name}" value="{escape(value)}">' for name, value in extra)
    )


def _marks_section(store: Store, parts: fragments.Parts, state: PageState) -> Markup:
    """The visitor's marks, each with a button to take it back (empty without marks)."""
    if not state.marks:
        return Markup("")
    items = [(store.movies[m.movie_id], m.label) for m in state.marks if m.movie_id in store.movies]
    return Markup(parts.macro("marks_section", items))


@bp.app_template_filter("count")
def format_count(value: int) -> str:
    return f"{value:,}"


@bp.app_template_global()
def genre_line(movie: Movie, limit: int = 3) -> str:
    return ", ".join(movie.genres[:limit])


# The report is our own build output: inline SVG and styles, no script. Its CSP allows exactly that.
REPORT_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


@bp.get("/report")
def report() -> Response | str:
    """The evaluation report (report.html from `make evaluate`) of the build being served; until
    there is one, the build's own figures and the command that makes the full report."""
    store = current_store()
    path = store.directory / "report.html"
    if not path.is_file():
        return render_template(
            "report_pending.html",
            store=store,
            figures=build_figures(store.manifest),
            command=EVALUATE_COMMAND,
        )
    response = send_file(path, mimetype="text/html", max_age=0)
    response.headers["Content-Security-Policy"] = REPORT_CSP
    return response
