"""The real pages in headless Chromium (Debian's /usr/bin/chromium, driven by Playwright).

With JavaScript: pick two catalog posters by clicking and one movie by searching, submit, see ten
results with images. Without JavaScript: the same through the plain HTML form. The insights and
movie pages: their charts render with a size. Every page is checked with axe-core (from npm:
`npm ci` in tests/webapp installs it into tests/webapp/node_modules). Screenshots of each page go
to tests/artifacts/webapp/.
"""

from __future__ import annotations

import gc
import os
import shutil
import socket
import struct
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import AMELIE_ID, make_tables, write_trained_data

CHROMIUM = Path("/usr/bin/chromium")
# On a developer's machine without Chromium these tests are skipped; CI (.ci/run) sets
# REQUIRE_BROWSER=1, and there a missing browser fails them instead of passing by skipping.
REQUIRE_BROWSER = os.environ.get("REQUIRE_BROWSER") == "1"
NO_BROWSER = "needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists() and not REQUIRE_BROWSER, reason=NO_BROWSER),
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "webapp"
AXE = Path(__file__).resolve().parent / "node_modules" / "axe-core" / "axe.min.js"
NO_AXE = "needs axe-core: run `npm ci` in tests/webapp (package.json, package-lock.json)"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def closing_bodies(app: Callable) -> Callable:
    """The WSGI app with each response body read and closed before the server writes it.

    werkzeug's development server closes a body only after it drains the request socket. When the
    browser resets the connection first (Chromium drops a favicon request when a form submit
    navigates away), that read raises and the close is skipped. The static file is then closed
    by the garbage collector, and the ResourceWarning fails whichever test runs then
    (filterwarnings = error). gunicorn, which serves the product, closes the body in a finally.
    """

    def wsgi(environ, start_response):
        body = app(environ, start_response)
        try:
            return [b"".join(body)]
        finally:
            if hasattr(body, "close"):
                body.close()

    return wsgi


@contextmanager
def serve(directory: Path, wrap: Callable = closing_bodies) -> Iterator[str]:
    """The app on a trained-data folder, served by werkzeug from a thread on a free port."""
    from werkzeug.serving import make_server

    from webapp import create_app

    app = create_app({"TRAINED_DATA": str(directory), "SECRET_KEY": "browser-test", "RELOAD_INTERVAL": -1})
    server = make_server("127.0.0.1", 0, wrap(app), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)


def _reset_static_requests(url: str, n: int) -> list[str]:
    """Ask for a static file n times, each time resetting the connection once the answer is in
    while the server still waits for the rest of a declared request body (it drains that body
    before it closes the response); the unclosed files the garbage collector then finds."""
    host, port = url.removeprefix("http://").split(":")
    request = b"GET /static/favicon.svg HTTP/1.1\r\nHost: test\r\nContent-Length: 1000\r\n\r\n" + b"x" * 10
    found: list[str] = []
    previous = sys.unraisablehook
    sys.unraisablehook = lambda u: found.append(str(u.exc_value))
    try:
        for _ in range(n):
            with socket.create_connection((host, int(port)), timeout=10) as conn:
                conn.sendall(request)
                assert conn.recv(65536).startswith(b"HTTP/1.1 200")
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # reset
        for _ in range(3):  # the server's threads finish, their frames are freed
            time.sleep(0.2)
            gc.collect()
    finally:
        sys.unraisablehook = previous
    return [text for text in found if "favicon.svg" in text]


@pytest.mark.filterwarnings("error::ResourceWarning")
def test_the_test_server_closes_files_of_reset_connections(trained_dir: Path) -> None:
    """What made a browser test fail now and then: a connection reset mid-response left the
    static file open on werkzeug's server. Served as the browser tests serve it, none is left."""
    with serve(trained_dir, wrap=lambda app: app) as url:  # the bare server: it does leak
        assert _reset_static_requests(url, 20)
    with serve(trained_dir) as url:
        assert _reset_static_requests(url, 20) == []


@pytest.fixture(scope="module")
def base_url(trained_dir: Path) -> Iterator[str]:
    with serve(trained_dir) as url:
        yield url


@pytest.fixture(scope="module")
def report_url(tmp_path_factory: pytest.TempPathFactory, trained_dir: Path) -> Iterator[str]:
    """The app on a copy of the fixture build with a report.html written by the offline report."""
    from offline.evaluation.report import render_html

    directory = Path(shutil.copytree(trained_dir, tmp_path_factory.mktemp("with-report") / "td"))
    (directory / "report.html").write_text(render_html(REPORT), encoding="utf-8")
    with serve(directory) as url:
        yield url


@pytest.fixture(scope="module")
def axe_source() -> str:
    if not AXE.is_file():
        if REQUIRE_BROWSER:
            pytest.fail(f"REQUIRE_BROWSER=1 but the accessibility checks cannot run: {NO_AXE}")
        pytest.skip(NO_AXE)
    return AXE.read_text(encoding="utf-8")


def assert_accessible(page, axe_source: str, name: str) -> None:
    """No axe-core violation on the page (any impact), the details in the failure message.

    axe is injected with page.evaluate (run through the DevTools protocol), so the page's CSP,
    which allows no inline or injected script, needs no exception for it."""
    page.evaluate(axe_source)
    violations = page.evaluate("""async () => {
        const result = await axe.run(document, {resultTypes: ["violations"]});
        return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.map(n => ({target: n.target.join(" "), summary: n.failureSummary}))}));
    }""")
    details = "\n".join(
        f"- {v['id']} ({v['impact']}): {v['help']}; {len(v['nodes'])} node(s): "
        + "; ".join(f"{n['target']}: {n['summary']}" for n in v["nodes"][:5])
        for v in violations
    )
    assert violations == [], f"axe-core found violations on {name}:\n{details}"


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():  # only reached with REQUIRE_BROWSER=1
        pytest.fail(f"REQUIRE_BROWSER=1 but the browser tests cannot run: {NO_BROWSER}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield instance
        instance.close()


def _fake_poster(width: int = 20, height: int = 30) -> bytes:
    """A small solid PNG (standard library only) standing in for a TMDB poster."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\xc8\x78\x28" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def _context(browser, *, javascript: bool = True, tmdb: str = "fail", width: int = 1280):
    """A browser context; TMDB images either fail (offline) or get a small stand-in image."""
    context = browser.new_context(java_script_enabled=javascript, viewport={"width": width, "height": 900})
    image = _fake_poster()

    def route(request_route) -> None:
        if tmdb == "fail":
            request_route.abort()
        else:
            request_route.fulfill(status=200, body=image, content_type="image/png")

    # Nothing leaves the machine: TMDB images are answered here, anything else external fails.
    context.route(
        lambda url: not url.startswith("http://127.0.0.1"),
        lambda r: route(r) if r.request.url.startswith("https://image.tmdb.org/") else r.abort(),
    )
    return context


def _shot(page, name: str) -> None:
    """A full-page screenshot, after scrolling through once so lazy posters load."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    height = page.evaluate("document.documentElement.scrollHeight")
    for y in range(0, height, 600):
        page.evaluate(f"window.scrollTo(0, {y})")
        page.wait_for_timeout(30)
    page.evaluate("window.scrollTo(0, 0)")
    page.wait_for_timeout(150)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _images_loaded(page, selector: str) -> list[bool]:
    """Per card: does it show a loaded image (the TMDB one or the generated one)?"""
    cards = page.locator(selector)
    loaded = []
    for n in range(cards.count()):
        card = cards.nth(n)
        card.scroll_into_view_if_needed()
        card.locator("img").last.evaluate(
            "img => img.complete || new Promise(r => { img.onload = img.onerror = r; })"
        )
        loaded.append(
            card.evaluate("c => [...c.querySelectorAll('img')].some(i => i.complete && i.naturalWidth > 0)")
        )
    return loaded


def test_pick_search_submit_with_javascript(browser, base_url: str) -> None:
    context = _context(browser)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(base_url + "/")
    _shot(page, "picker-js")

    catalog = page.locator("#catalog-grid .pick-card")
    catalog.nth(0).locator(".card-label").click()
    catalog.nth(1).locator(".card-label").click()
    assert page.locator("#tray-count").inner_text() == "2 of 3"

    page.fill("#q", "amelie")
    found = page.locator(f'#results-grid .pick-card[data-movie-id="{AMELIE_ID}"]')
    found.wait_for()
    assert page.locator("#results-title").inner_text() == "Results for “amelie”"
    found.locator(".card-label").click()
    assert page.locator("#tray-count").inner_text() == "3 of 3"
    assert page.locator("#tray-list .tray-item").count() == 3
    assert "Amélie" in page.locator("#tray-list").inner_text()

    # A fourth pick is refused with a message; removing one frees a slot.
    catalog.nth(2).locator(".card-label").click()
    assert page.locator("#tray-count").inner_text() == "3 of 3"
    assert "already have three" in page.locator("#tray-status").inner_text()
    _shot(page, "picker-js-three-picked")

    page.click("#submit")
    page.wait_for_url("**/recommendations?movie_ids=*")
    assert page.url.endswith(f"movie_ids=1&movie_ids=2&movie_ids={AMELIE_ID}")
    assert page.locator(".result-card").count() == 10
    assert all(_images_loaded(page, ".result-card"))
    assert page.locator("#popular .result-card").count() == 5
    assert page.locator("#less-known .result-card").count() == 5
    assert page.locator(".result-card .reason").first.inner_text().startswith("Because you picked")
    # offline, every TMDB image failed: app.js put the generated posters in their place
    assert page.locator(".result-card img.poster-photo").count() == 0
    assert page.locator(".result-card img.poster-generated").count() == 10
    _shot(page, "results-js")
    assert errors == []
    context.close()


def test_tmdb_images_show_when_they_load(browser, base_url: str) -> None:
    context = _context(browser, tmdb="ok")
    page = context.new_page()
    page.goto(base_url + "/recommendations?movie_ids=1&movie_ids=2&movie_ids=3")
    photos = page.locator(".result-card img.poster-photo")
    assert photos.count() >= 9
    photos.first.scroll_into_view_if_needed()
    photos.first.evaluate("img => img.complete || new Promise(r => { img.onload = img.onerror = r; })")
    assert photos.first.evaluate("img => img.naturalWidth") == 20
    context.close()


def test_keyboard_can_pick_and_remove(browser, base_url: str) -> None:
    context = _context(browser)
    page = context.new_page()
    page.goto(base_url + "/")
    page.locator("#catalog-grid .pick-box").first.focus()
    page.keyboard.press("Space")
    assert page.locator("#tray-count").inner_text() == "1 of 3"
    page.locator("#tray-list .tray-remove").first.focus()
    page.keyboard.press("Enter")
    assert page.locator("#tray-count").inner_text() == "0 of 3"
    assert "Removed" in page.locator("#tray-status").inner_text()
    context.close()


def test_genre_filter_with_javascript(browser, base_url: str) -> None:
    context = _context(browser)
    page = context.new_page()
    page.goto(base_url + "/")
    page.locator(".chip", has_text="Horror").click()
    visible = page.locator("#catalog-grid .pick-card:visible")
    assert visible.count() >= 1
    for n in range(visible.count()):
        assert "Horror" in visible.nth(n).get_attribute("data-genres")
    assert "genre=Horror" in page.url
    context.close()


def test_pick_search_submit_without_javascript(browser, base_url: str) -> None:
    context = _context(browser, javascript=False, tmdb="ok")
    page = context.new_page()
    page.goto(base_url + "/")
    _shot(page, "picker-nojs")
    catalog = page.locator("#catalog-grid .pick-card")
    catalog.nth(0).locator(".card-label").click()
    catalog.nth(1).locator(".card-label").click()
    page.fill("#q", "amélie")
    page.press("#q", "Enter")  # the form's default button: search, keeping the checked picks
    page.wait_for_url("**/?movie_ids=1&movie_ids=2&q=*")
    assert page.locator("#tray-list .tray-item").count() == 2
    page.locator(f'#results-grid .pick-card[data-movie-id="{AMELIE_ID}"] .card-label').click()
    _shot(page, "picker-nojs-searched")

    page.click("#submit")
    page.wait_for_url("**/recommendations?movie_ids=*")
    assert page.locator(".result-card").count() == 10
    assert all(_images_loaded(page, ".result-card"))
    _shot(page, "results-nojs")

    # the less-known toggle and "change one pick" are plain links
    page.click("nav.segmented a:has-text('Better known')")
    page.wait_for_url("**less_known=known*")
    page.locator(".change-link").first.click()
    page.wait_for_url("**/?movie_ids=*#search")
    assert page.locator("#tray-list .tray-item").count() == 2
    context.close()


def test_broken_tmdb_image_without_javascript_gets_a_cover(browser, base_url: str) -> None:
    context = _context(browser, javascript=False, tmdb="fail")
    page = context.new_page()
    page.goto(base_url + "/")
    img = page.locator("#catalog-grid .pick-card").first.locator("img.poster-photo")
    img.evaluate("img => img.complete || new Promise(r => { img.onload = img.onerror = r; })")
    assert img.evaluate("img => img.naturalWidth") == 0
    assert img.evaluate("img => getComputedStyle(img, '::before').content") == '"The Shawshank Redemption"'
    # Shawshank is a Crime drama: the Crime colours of webapp/schema.py (#5c5c70, #16161f)
    background = img.evaluate("img => getComputedStyle(img, '::before').backgroundImage")
    assert "gradient" in background and "rgb(92, 92, 112)" in background and "rgb(22, 22, 31)" in background
    _shot(page, "picker-nojs-offline")
    context.close()


def test_form_error_without_javascript_keeps_picks(browser, base_url: str) -> None:
    context = _context(browser, javascript=False)
    page = context.new_page()
    page.goto(base_url + "/")
    page.locator("#catalog-grid .pick-card").nth(0).locator(".card-label").click()
    with page.expect_response(lambda r: r.url.endswith("/recommendations")) as answer:
        page.click("#submit")
    assert answer.value.status == 400
    page.wait_for_load_state()
    assert "Pick exactly three movies (you picked 1)" in page.locator("#errors").inner_text()
    assert page.locator("#tray-list .tray-item").count() == 1
    page.locator("#tray-list .tray-remove").click()  # remove without JavaScript
    page.wait_for_url("**/#tray")
    assert page.locator("#tray-list .tray-item").count() == 0
    context.close()


def test_phone_width_has_no_horizontal_scroll(browser, base_url: str) -> None:
    context = _context(browser, width=390)
    page = context.new_page()
    for url, name in (
        ("/", "picker-phone"),
        ("/recommendations?movie_ids=1&movie_ids=2&movie_ids=3", "results-phone"),
        ("/insights", "insights-phone"),
        ("/movies/1", "movie-phone"),
    ):
        page.goto(base_url + url)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, url
        assert page.locator("#submit, .result-card, svg.chart").first.is_visible()
        _shot(page, name)
    context.close()


# ---------------------------------------------------------------------------- insights, movie pages
REPORT = {  # a small evaluation report with every part report.html renders
    "protocol": {
        "folds": 5,
        "seed": 42,
        "picks": 3,
        "liked_rating": 4.0,
        "catalog_size": 100,
        "pools": {"popular_share": 0.1, "less_known_min_count": 5},
        "variants": {"A": "any picks", "B": "picks from the catalog"},
    },
    "seconds": 12.5,
    "main_method": "recommender (knn + als + neumf)",
    "goals": [
        {"goal": "HR@10 above the most-rated list", "value": 0.42, "bar": 0.3, "met": True},
        {"goal": "less-known median count", "value": {"A": 12.0}, "bar": 50, "met": False},
    ],
    "methods": [
        {
            "method": m,
            "variant": v,
            "users": 120,
            "hr_at_10": hr,
            "precision_at_10": hr / 4,
            "ndcg_at_10": hr / 2,
            "coverage": cov,
            "popular_hr_at_5": hr * 0.7,
            "less_known_hr_at_5": hr * 0.4,
            "less_known_median_count": 14,
        }
        for v in ("A", "B")
        for m, hr, cov in (("recommender (knn + als + neumf)", 0.42, 310), ("most rated top 10", 0.28, 10))
    ],
    "ablations": {
        "knn": {
            k: {"diff": 0.05, "se": 0.01, "z": 5.0} for k in ("hr_at_10", "ndcg_at_10", "less_known_hr_at_5")
        }
    },
    "long_tail": {
        "rank": list(range(1, 201)),
        "count": [max(1, 400 // r) for r in range(1, 201)],
        "placement_ranks": {"popular": [1, 3, 8], "less_known": [40, 90, 150]},
        "placements": {"popular": {"median": 3}, "less_known": {"median": 90}},
    },
    "rating_prediction": {
        "split_seed": 7,
        "fractions": [0.8, 0.1, 0.1],
        "bias": {"global_mean_rmse": 1.04, "global_mean_mae": 0.83, "bias_rmse": 0.89, "bias_mae": 0.68},
        "als": {"test_rmse": 0.87, "test_mae": 0.67},
        "neumf": {},
    },
    "folds": [
        {
            "fold": 0,
            "train_users": 96,
            "test_users": 24,
            "cases": {"A": 24, "B": 20},
            "seconds": {"knn": 1.5, "neumf": 4.0},
            "total_seconds": 6.1,
        }
    ],
}


def _chart_boxes(page) -> list[dict]:
    """The bounding box of every chart on the page (scrolled into view first)."""
    charts = page.locator("svg.chart")
    boxes = []
    for n in range(charts.count()):
        charts.nth(n).scroll_into_view_if_needed()
        boxes.append(charts.nth(n).bounding_box())
    return boxes


@pytest.mark.parametrize("javascript", [True, False])
def test_insights_page_charts_render(browser, base_url: str, javascript: bool) -> None:
    context = _context(browser, javascript=javascript)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(base_url + "/insights")
    boxes = _chart_boxes(page)
    assert len(boxes) == 7
    for box in boxes:
        assert box is not None and box["width"] >= 500 and box["height"] >= 150, box
    # the bars have a size too (drawn, not only laid out)
    bar = page.locator("#chart-distribution rect.bar").first.bounding_box()
    assert bar["width"] > 5 and bar["height"] > 5
    # the numbers open without JavaScript
    page.locator("#distribution details summary").click()
    assert page.locator("#distribution details table").is_visible()
    _shot(page, "insights" + ("" if javascript else "-nojs"))
    page.click("a.chip-link:has-text('Horror')")
    page.wait_for_url("**/insights?genre=Horror#over-time")
    assert "Horror ratings" in page.locator("#over-time .insight-reveals").inner_text()
    assert errors == []  # a CSP refusal shows up as a console error
    context.close()


def test_movie_page_from_a_card_and_back_with_the_pick(browser, base_url: str) -> None:
    """Pick one movie, open another's page from its card, add it: the picker has both."""
    context = _context(browser, tmdb="ok")
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(base_url + "/")
    catalog = page.locator("#catalog-grid .pick-card")
    catalog.nth(0).locator(".card-label").click()
    catalog.nth(1).locator(".card-about").click()
    page.wait_for_url("**/movies/2?movie_ids=1")
    boxes = _chart_boxes(page)
    assert len(boxes) == 2 and all(b["width"] > 300 and b["height"] > 100 for b in boxes)
    assert page.locator("#neighbours-cf .movie-card").count() >= 1
    _shot(page, "movie")
    page.click("text=Add to my picks")
    page.wait_for_url("**/?movie_ids=1&movie_ids=2#tray")
    assert page.locator("#tray-count").inner_text() == "2 of 3"
    assert errors == []
    context.close()


def test_movie_page_without_javascript(browser, base_url: str) -> None:
    context = _context(browser, javascript=False)
    page = context.new_page()
    page.goto(base_url + "/recommendations?movie_ids=1&movie_ids=5&movie_ids=20")
    page.locator(".result-card .card-title a").first.click()
    page.wait_for_url("**/movies/*")
    assert all(b["width"] > 300 and b["height"] > 100 for b in _chart_boxes(page))
    _shot(page, "movie-nojs")
    page.click("text=Add to my picks")
    page.wait_for_url("**/?movie_ids=*#tray")
    assert page.locator("#tray-list .tray-item").count() == 1
    context.close()


# ---------------------------------------------------------------------------- accessibility
PAGES = {
    "picker": "/",
    "picker-with-search": "/?movie_ids=1&movie_ids=5&q=the",
    "results": "/recommendations?movie_ids=1&movie_ids=5&movie_ids=20",
    "insights": "/insights",
    "insights-genre": "/insights?genre=Drama",
    "movie": "/movies/1",
    "movie-unrated": "/movies/43",
    "report-before-evaluate": "/report",
    "error": "/movies/999999",
}


def test_the_accessibility_check_can_fail(browser, base_url: str, axe_source: str) -> None:
    """The same check on a page with known faults: an image without alt text, an unlabelled
    input, an empty table header."""
    context = _context(browser)
    page = context.new_page()
    page.goto(base_url + "/")
    planted = (
        '<img src="/static/favicon.svg"><input type="text">'
        "<table><tr><th></th></tr><tr><td>1</td></tr></table>"
    )
    page.evaluate(
        """(html) => { document.querySelector("main").insertAdjacentHTML("beforeend", html); }""",
        planted,
    )
    with pytest.raises(AssertionError) as failed:
        assert_accessible(page, axe_source, "a broken page")
    message = str(failed.value)
    assert "image-alt" in message and "label" in message and "empty-table-header" in message
    context.close()


@pytest.mark.parametrize("name", list(PAGES))
def test_no_accessibility_violations(browser, base_url: str, axe_source: str, name: str) -> None:
    context = _context(browser)
    page = context.new_page()
    page.goto(base_url + PAGES[name])
    for details in page.locator("details").all():  # the tables inside are checked too
        details.evaluate("d => d.open = true")
    assert_accessible(page, axe_source, name)
    context.close()


def test_report_has_no_accessibility_violations(browser, report_url: str, axe_source: str) -> None:
    context = _context(browser)
    page = context.new_page()
    response = page.goto(report_url + "/report")
    assert response.status == 200 and "quality report" in page.title()
    assert_accessible(page, axe_source, "report.html")
    _shot(page, "report")
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(13, 15, 19)"
    context.close()


def test_pages_of_a_build_without_insights(browser, tmp_path: Path, axe_source: str) -> None:
    directory = write_trained_data(tmp_path / "old", make_tables(insights=False), build_id="old")
    with serve(directory) as url:
        context = _context(browser)
        page = context.new_page()
        for path in ("/insights", "/movies/1"):
            assert page.goto(url + path).status == 200
            assert_accessible(page, axe_source, f"{path} without insights tables")
        _shot(page, "movie-without-insights")
        context.close()
