"""GET /report: the evaluation report of the build being served, under its own narrow CSP."""
from __future__ import annotations

from pathlib import Path


def test_report_missing_says_which_command_makes_it(client) -> None:
    response = client.get("/report")
    assert response.status_code == 404
    assert "make evaluate" in response.get_data(as_text=True)


def test_report_is_served_with_a_csp_that_allows_no_script(trained_copy: Path,
                                                           fresh_app_factory) -> None:
    (trained_copy / "report.html").write_text("<!doctype html><style>p{}</style><p>HR@10 0.84</p>")
    client = fresh_app_factory(trained_copy).test_client()
    response = client.get("/report")
    assert response.status_code == 200
    assert "HR@10 0.84" in response.get_data(as_text=True)
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp
    assert "style-src 'unsafe-inline'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_footer_links_to_the_report(client) -> None:
    assert 'href="/report"' in client.get("/").get_data(as_text=True)
