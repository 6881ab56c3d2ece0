"""The real pages in headless Chromium (Debian's /usr/bin/chromium, driven by Playwright).

With JavaScript: pick two catalog posters by clicking and one movie by searching, submit, see ten
results with images. Without JavaScript: the same through the plain HTML form. Screenshots of
each page go to tests/artifacts/webapp/.
"""
from __future__ import annotations

import os
import struct
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import AMELIE_ID

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
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def base_url(trained_dir: Path) -> Iterator[str]:
    """The app served by werkzeug from a thread on a free port."""
    from werkzeug.serving import make_server

    from webapp import create_app

    app = create_app({"TRAINED_DATA": str(trained_dir), "SECRET_KEY": "browser-test",
                      "RELOAD_INTERVAL": -1})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


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
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


def _context(browser, *, javascript: bool = True, tmdb: str = "fail", width: int = 1280):
    """A browser context; TMDB images either fail (offline) or get a small stand-in image."""
    context = browser.new_context(java_script_enabled=javascript,
                                  viewport={"width": width, "height": 900})
    image = _fake_poster()

    def route(request_route) -> None:
        if tmdb == "fail":
            request_route.abort()
        else:
            request_route.fulfill(status=200, body=image, content_type="image/png")

    # Nothing leaves the machine: TMDB images are answered here, anything else external fails.
    context.route(lambda url: not url.startswith("http://127.0.0.1"),
                  lambda r: route(r) if r.request.url.startswith("https://image.tmdb.org/") else r.abort())
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
            "img => img.complete || new Promise(r => { img.onload = img.onerror = r; })")
        loaded.append(card.evaluate(
            "c => [...c.querySelectorAll('img')].some(i => i.complete && i.naturalWidth > 0)"))
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
    for url, name in (("/", "picker-phone"), ("/recommendations?movie_ids=1&movie_ids=2&movie_ids=3", "results-phone")):
        page.goto(base_url + url)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        assert page.locator("#submit, .result-card").first.is_visible()
        _shot(page, name)
    context.close()
