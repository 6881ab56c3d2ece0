"""The movie picker web app: `create_app()` builds it; gunicorn serves `webapp:create_app()`."""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Mapping
from typing import Any

from flask import Flask, current_app, g, request
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from webapp.cache import LruCache
from webapp.holder import StoreHolder
from webapp.jsonio import OrjsonProvider
from webapp.params import IdConverter
from webapp.settings import DEFAULTS, MAX_PROXY_COUNT, PROJECT_ROOT, SettingsError, settings_from_env
from webapp.store import Store
from webapp.urls import page_path

STORE_KEY = "movierec.store"
PAGES_KEY = "movierec.pages"  # rendered result pages
CARDS_KEY = "movierec.cards"  # rendered catalog / search cards
csrf = CSRFProtect()
log = logging.getLogger(__name__)


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: settings, the trained-data store (fails fast), blueprints, security."""
    app = Flask(
        __name__, template_folder=str(PROJECT_ROOT / "templates"), static_folder=str(PROJECT_ROOT / "static")
    )
    app.config.from_mapping(DEFAULTS)
    app.config.update(settings_from_env())
    if test_config:
        app.config.update(test_config)
    if app.config.get("DEBUG"):
        raise ValueError("this app never runs in debug mode (it would expose a code console)")
    app.debug = False
    _trust_proxies(app, app.config.get("PROXY_COUNT") or 0)
    app.url_map.converters["id"] = IdConverter  # <id:...> in routes: ASCII digits, 0..2^31-1
    app.extensions[STORE_KEY] = StoreHolder(
        app.config["TRAINED_DATA"],  # fails fast, one line
        check_interval=float(app.config["RELOAD_INTERVAL"]),
    )
    if not app.config.get("SECRET_KEY"):
        log.warning("MOVIEREC_SECRET_KEY is not set: using a random key (forms expire on restart)")
        app.config["SECRET_KEY"] = secrets.token_hex(32)
    app.json = OrjsonProvider(app)  # keys in the order written, UTF-8 (webapp/jsonio.py)
    app.extensions[PAGES_KEY] = LruCache(int(app.config["PAGE_CACHE_SIZE"]))
    app.extensions[CARDS_KEY] = LruCache(int(app.config["CARD_CACHE_SIZE"]))
    csrf.init_app(app)

    from webapp import api, errors, feedback_views, fragments, insight_pages, pages, posters, security

    app.register_blueprint(pages.bp)
    app.register_blueprint(insight_pages.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(posters.bp)
    csrf.exempt(api.bp)  # JSON only: a cross-site form cannot send application/json
    feedback_views.init_app(app)  # the feedback database (migrated at start-up) and its routes
    security.init_app(app)
    errors.init_app(app)
    fragments.init_app(app)
    app.jinja_env.globals["asset_url"] = _asset_urls(app)
    app.jinja_env.globals["page_path"] = page_path
    for name in (
        "picker.html",
        "results.html",
        "error.html",
        "poster.svg",
        "insights.html",
        "movie.html",
        "report_pending.html",
    ):
        app.jinja_env.get_template(name)  # compiled once here, shared by gunicorn's forked workers
    return app


def _trust_proxies(app: Flask, count: object) -> None:
    """Behind `count` reverse proxies, read the visitor's address, scheme, host, port and mount
    prefix from their X-Forwarded-* headers (werkzeug's ProxyFix takes the last `count` values,
    the ones the proxies themselves added); with 0, the headers are ignored."""
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_PROXY_COUNT:
        raise SettingsError(
            f"MOVIEREC_PROXY_COUNT must be a whole number from 0 to {MAX_PROXY_COUNT}, got {count!r}"
        )
    if count:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=count, x_proto=count, x_host=count, x_port=count, x_prefix=count
        )
        return
    warned = False

    @app.before_request
    def _warn_of_an_untrusted_proxy() -> None:
        """Once per worker: a forwarded request while no proxy is trusted is most likely a proxy
        that nobody told the app about (README, "Behind a proxy")."""
        nonlocal warned
        if not warned and "HTTP_X_FORWARDED_FOR" in request.environ:
            warned = True
            log.warning(
                "a request carried X-Forwarded-For, but MOVIEREC_PROXY_COUNT is 0, so the header is "
                "ignored: behind a reverse proxy every visitor then has the proxy's address (one "
                "per-address feedback limit for all) and links miss its path prefix; set "
                "MOVIEREC_PROXY_COUNT to the number of proxies in front"
            )


def store_holder(app: Flask | None = None) -> StoreHolder:
    """The app's StoreHolder (for reloads from gunicorn hooks and tests)."""
    return (app or current_app).extensions[STORE_KEY]


def current_store() -> Store:
    """The store for this request: taken once, so one request sees one build."""
    if "store" not in g:
        g.store = store_holder().get()
    return g.store


def _asset_urls(app: Flask):
    """asset_url(name): a static URL with a content hash, so it can be cached for a year."""
    versions: dict[str, str] = {}
    urls: dict[tuple[str, str], str] = {}  # every page links the same assets: build each URL once

    def asset_url(filename: str) -> str:
        from flask import request, url_for

        key = (request.script_root, filename)  # the only request state a relative URL depends on
        if key not in urls:
            if filename not in versions:
                path = PROJECT_ROOT / "static" / filename
                versions[filename] = hashlib.sha256(path.read_bytes()).hexdigest()[:10]
            urls[key] = url_for("static", filename=filename, v=versions[filename])
        return urls[key]

    return asset_url
