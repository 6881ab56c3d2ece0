"""GET /report: the evaluation report of the build being served, under its own narrow CSP."""

from __future__ import annotations

import json
import re
from pathlib import Path

from conftest import BUILD_METRICS


def test_report_missing_shows_the_build_figures_and_the_command(client) -> None:
    """The footer links to /report on every page: before `make evaluate` it is no 404 but the
    build's own figures (manifest metrics) and the one command that makes the full report."""
    response = client.get("/report")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<code>make evaluate</code>" in html
    rows = dict(re.findall(r'<tr><th scope="row">([^<]+)</th><td>([^<]+)</td><td>[^<]+</td></tr>', html))
    als = BUILD_METRICS["als"]
    assert rows["ALS (explicit)"] == f"{als['test_rmse']:.4g}"
    assert rows["user + item bias baseline"] == f"{als['bias_test_rmse']:.4g}"
    assert rows["global mean baseline"] == f"{als['global_mean_test_rmse']:.4g}"
    assert '<tr><th scope="row">rank</th><td>12</td></tr>' in html  # every metric, stage by stage


def test_report_missing_on_a_build_without_metrics(trained_copy: Path, fresh_app_factory) -> None:
    manifest = json.loads((trained_copy / "manifest.json").read_text())
    manifest.pop("metrics"), manifest.pop("stages"), manifest.pop("input")
    (trained_copy / "manifest.json").write_text(json.dumps(manifest))
    response = fresh_app_factory(trained_copy).test_client().get("/report")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "make evaluate" in html and "This build recorded no figures." in html


def test_report_is_served_with_a_csp_that_allows_no_script(trained_copy: Path, fresh_app_factory) -> None:
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


def test_report_missing_lists_the_stages_in_build_order(trained_copy: Path, fresh_app_factory) -> None:
    manifest = json.loads((trained_copy / "manifest.json").read_text())
    manifest["stages"] = {
        name: {"seconds": 1.0, "rows": 1}  # as a build writes it: keys sorted
        for name in ("als", "insights", "knn", "movies", "neumf", "popular")
    }
    (trained_copy / "manifest.json").write_text(json.dumps(manifest))
    html = fresh_app_factory(trained_copy).test_client().get("/report").get_data(as_text=True)
    stages = html.split("<caption>Stages</caption>", 1)[1].split("</tbody>", 1)[0]
    assert re.findall(r'<th scope="row">(\w+)</th>', stages) == [
        "movies",
        "popular",
        "insights",
        "als",
        "knn",
        "neumf",
    ]
