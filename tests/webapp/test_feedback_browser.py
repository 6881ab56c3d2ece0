"""Feedback on the result page in headless Chromium: with JavaScript (in place, the address bar
follows, a reload keeps it) and without (plain form posts and redirects). Screenshots go to
tests/artifacts/webapp/."""

from __future__ import annotations

import re

from conftest import AMELIE_ID
from test_web_browser import _context, _shot, base_url, browser, pytestmark  # noqa: F401

RESULT = f"/recommendations?movie_ids=1&movie_ids={AMELIE_ID}&movie_ids=20"


def _ids(page, section: str) -> list[int]:
    return [
        int(v.split(":")[1])
        for v in page.locator(f"#{section} .fb-loved").evaluate_all("bs => bs.map(b => b.value)")
    ]


def test_feedback_with_javascript_refreshes_in_place(browser, base_url: str) -> None:
    context = _context(browser)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(base_url + RESULT)
    loads = []
    page.on("load", lambda: loads.append(page.url))
    popular = _ids(page, "popular")
    page.locator("#popular .result-card").nth(1).locator(".fb-loved").click()
    # (no wait_for_function: the page's CSP allows no eval, rightly)
    page.locator("#feedback-status", has_text="Your list is updated").wait_for()
    assert loads == []  # no page load: the list was swapped in place
    assert f"loved={popular[1]}" in page.url
    assert popular[1] not in _ids(page, "popular") + _ids(page, "less-known")
    assert page.locator(".result-card").count() == 10
    assert "Seen it, loved it" in page.locator("#your-marks").inner_text()
    assert page.locator("#popular .reason strong").first.inner_text().startswith("Because you liked")

    # rate one of the less-known movies: choose the stars, press Rate
    card = page.locator("#less-known .result-card").first
    rated = _ids(page, "less-known")[0]
    card.locator("select").select_option("4.5")
    card.locator(".fb-rate-button").click()
    page.wait_for_url(re.compile(rf".*rated={rated}%3A4\.5.*|.*rated={rated}:4\.5.*"))
    page.locator("#feedback-status", has_text="You rated").wait_for()
    assert "Rated 4.5 of 5" in page.locator("#your-marks").inner_text()
    _shot(page, "results-feedback-js")

    # a reload shows the same list and marks (they live in the URL)
    before = _ids(page, "popular") + _ids(page, "less-known")
    page.reload()
    assert _ids(page, "popular") + _ids(page, "less-known") == before
    assert page.locator("#your-marks .mark-item").count() == 2

    # undo gives the movie back to the list
    page.locator(f'#your-marks button[value="undo:{popular[1]}"]').click()
    page.wait_for_url(lambda url: f"loved={popular[1]}" not in url)
    assert page.locator("#your-marks .mark-item").count() == 1
    assert errors == []
    context.close()


def test_rate_without_stars_says_so(browser, base_url: str) -> None:
    context = _context(browser)
    page = context.new_page()
    page.goto(base_url + RESULT)
    page.locator("#popular .result-card").first.locator(".fb-rate-button").click()
    assert "Choose how many stars" in page.locator("#feedback-status").inner_text()
    assert page.url.endswith(RESULT)
    context.close()


def test_feedback_without_javascript(browser, base_url: str) -> None:
    context = _context(browser, javascript=False)
    page = context.new_page()
    page.goto(base_url + RESULT)
    movie = _ids(page, "popular")[0]
    page.locator("#popular .result-card").first.locator(".fb-not-interested").click()
    page.wait_for_url(re.compile(rf".*not_interested={movie}.*#popular$"))
    assert movie not in _ids(page, "popular") + _ids(page, "less-known")
    assert "Not interested" in page.locator("#your-marks").inner_text()
    more = _ids(page, "less-known")[2]
    page.locator("#less-known .result-card").nth(2).locator(".fb-more").click()
    page.wait_for_url(re.compile(rf".*more={more}.*"))
    assert "More like this" in page.locator("#your-marks").inner_text()
    _shot(page, "results-feedback-nojs")
    # Rate without stars: the error page, with the way back
    page.locator("#popular .result-card").first.locator(".fb-rate-button").click()
    page.wait_for_load_state()
    assert "Choose how many stars" in page.locator(".error-page").inner_text()
    _shot(page, "feedback-error-nojs")
    page.click("text=Back to your recommendations")
    assert page.locator(".result-card").count() == 10
    context.close()


def test_phone_width_with_marks_has_no_horizontal_scroll(browser, base_url: str) -> None:
    context = _context(browser, width=390)
    page = context.new_page()
    page.goto(base_url + RESULT + "&loved=2&not_for_me=3&rated=4:3.5")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    _shot(page, "results-feedback-phone")
    context.close()
