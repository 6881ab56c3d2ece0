"""webapp.store: the manifest check, the loaded store, and hot reload without a restart."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import AMELIE_ID, BUILD_ID, UNRATED_ID, expected_levels, make_tables, write_trained_data

from webapp import create_app, store_holder
from webapp.holder import StoreHolder
from webapp.manifest import TrainedDataError
from webapp.recommend import InvalidPicksError, UnknownMovieError
from webapp.store import load_store


def test_loads_every_table_and_index(store) -> None:
    assert store.build_id == BUILD_ID
    assert len(store.movies) == 44
    assert [m.movie_id for m in store.catalog][:3] == [1, 2, 3]
    assert "Drama" in store.genres and "" not in store.genres
    assert store.movies[AMELIE_ID].title == "Amélie"
    assert store.movies[42].title == "NaN"  # not read as a missing value
    assert store.movies[41].year is None and store.movies[41].genres == ()
    assert store.movies[UNRATED_ID].rating_count == 0


def test_levels_are_floor_and_a_higher_threshold(store) -> None:
    assert dict(store.levels) == expected_levels(make_tables())
    assert store.levels["known"] > store.levels["gems"]


def test_recommend_is_memoised_and_checks_picks(store) -> None:
    first = store.recommend([1, 5, 20])
    assert store.recommend((1, 5, 20)) is first
    assert len(first.popular) == 5 and len(first.less_known) == 5
    with pytest.raises(UnknownMovieError):
        store.recommend([1, 5, 999])
    with pytest.raises(InvalidPicksError):
        store.recommend([1, 1, 5])


def test_user_queries(store) -> None:
    top = store.user_recommendations(1)
    assert top is not None and len(top) == 5
    assert [s for _, s in top] == sorted((s for _, s in top), reverse=True)
    assert store.user_recommendations(999) is None
    rating = store.predicted_rating(1, 1)
    assert rating is not None and 0.5 <= rating <= 5.0
    assert store.predicted_rating(999, 1) is None
    assert store.predicted_rating(1, UNRATED_ID) is None


def test_predicted_rating_is_the_clipped_dot_product(store) -> None:
    users = make_tables()["als_user_factors"].set_index("user_id")
    items = make_tables()["als_item_factors"].set_index("movie_id")
    raw = float(users.loc[2].to_numpy() @ items.loc[3].to_numpy())
    assert store.predicted_rating(2, 3) == pytest.approx(min(5.0, max(0.5, raw)))


# ---------------------------------------------------------------- broken folders: one clear line
def _edit_manifest(directory: Path, change) -> None:
    path = directory / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


def _append(path: Path, text: str) -> None:
    with path.open("a") as handle:
        handle.write(text)


BROKEN = {
    "no_manifest": (lambda d: (d / "manifest.json").unlink(), "manifest.json is missing"),
    "bad_json": (lambda d: (d / "manifest.json").write_text("{not json"), "unreadable"),
    "wrong_format": (lambda d: _edit_manifest(d, lambda m: m.update(format_version=99)), "format_version"),
    "no_build_id": (lambda d: _edit_manifest(d, lambda m: m.pop("build_id")), "build_id"),
    "table_not_listed": (
        lambda d: _edit_manifest(d, lambda m: m["tables"].pop("popular")),
        "lists no table popular",
    ),
    "file_missing": (
        lambda d: (d / "knn_neighbors.csv").unlink(),
        "knn_neighbors (knn_neighbors.csv) is missing",
    ),
    "corrupt_file": (lambda d: _append(d / "movies.csv", "99,x,,,,,\n"), "sha256 differs"),
    "file_outside": (
        lambda d: _edit_manifest(d, lambda m: m["tables"]["movies"].update(file="../movies.csv")),
        "is missing",
    ),
    "columns_differ": (
        lambda d: _edit_manifest(d, lambda m: m["tables"]["popular"].update(columns=["a"])),
        "columns",
    ),
    "rows_differ": (lambda d: _edit_manifest(d, lambda m: m["tables"]["popular"].update(rows=3)), "rows"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_folder_fails_with_one_line_naming_the_fix(trained_copy: Path, case: str) -> None:
    breaker, expected = BROKEN[case]
    breaker(trained_copy)
    with pytest.raises(TrainedDataError) as info:
        load_store(trained_copy)
    message = str(info.value)
    assert expected in message
    assert "\n" not in message
    assert "make build" in message and "python -m offline build" in message
    assert isinstance(info.value, RuntimeError)  # gunicorn prints RuntimeErrors as one line


def test_missing_folder_fails(tmp_path: Path) -> None:
    with pytest.raises(TrainedDataError, match="does not exist"):
        load_store(tmp_path / "nowhere")


def test_a_table_without_rows_loads(tmp_path: Path) -> None:
    """A build on a tiny data set wrote als_user_top with its header only; the app refused it
    ("column movie_id is not all integers": pandas reads an empty column as floats)."""
    tables = make_tables()
    tables["als_user_top"] = tables["als_user_top"].iloc[:0]
    write_trained_data(tmp_path, tables)
    store = load_store(tmp_path)
    picks = [m.movie_id for m in store.catalog[:3]]
    assert len(store.recommend(picks).all()) == 10


def test_a_file_in_place_of_the_folder_is_named_so(tmp_path: Path) -> None:
    (tmp_path / "trained_data").write_text("x")
    with pytest.raises(TrainedDataError, match="it is a file, not a folder"):
        load_store(tmp_path / "trained_data")


def test_required_column_missing_fails(tmp_path: Path) -> None:
    tables = make_tables()
    tables["movies"] = tables["movies"].drop(columns=["poster_url"])
    write_trained_data(tmp_path, tables)
    with pytest.raises(TrainedDataError, match="lacks column"):
        load_store(tmp_path)


def test_non_integer_ids_fail(tmp_path: Path) -> None:
    tables = make_tables()
    tables["knn_neighbors"] = tables["knn_neighbors"].astype({"neighbor_id": str})
    tables["knn_neighbors"].loc[0, "neighbor_id"] = "abc"
    write_trained_data(tmp_path, tables)
    with pytest.raises(TrainedDataError, match="neighbor_id is not all integers"):
        load_store(tmp_path)


def test_create_app_refuses_to_start_on_broken_data(trained_copy: Path) -> None:
    (trained_copy / "movies.csv").write_text("movie_id\n1\n")
    with pytest.raises(TrainedDataError):
        create_app({"TRAINED_DATA": str(trained_copy), "SECRET_KEY": "x"})


def test_create_app_refuses_debug(trained_dir: Path) -> None:
    with pytest.raises(ValueError, match="debug"):
        create_app({"TRAINED_DATA": str(trained_dir), "DEBUG": True})


# ---------------------------------------------------------------- hot reload
def _rebuild(directory: Path, build_id: str, title: str) -> None:
    """Publish a new build into the folder (tables first, manifest last, as a build does)."""
    tables = make_tables()
    tables["movies"].loc[0, "title"] = title
    write_trained_data(directory, tables, build_id=build_id)


def test_manifest_change_is_picked_up_without_restart(trained_copy: Path) -> None:
    holder = StoreHolder(trained_copy, check_interval=0.0)
    assert holder.get().build_id == BUILD_ID
    _rebuild(trained_copy, "second-build", "Renamed Movie")
    holder.get()  # notices the new manifest, loads in the background
    holder.wait_idle()
    store = holder.get()
    assert store.build_id == "second-build"
    assert store.movies[1].title == "Renamed Movie"


def test_checks_at_most_once_per_interval(trained_copy: Path) -> None:
    holder = StoreHolder(trained_copy, check_interval=3600)
    _rebuild(trained_copy, "second-build", "Renamed Movie")
    holder.get()
    holder.wait_idle()
    assert holder.get().build_id == BUILD_ID  # not looked at yet
    assert holder.reload()  # SIGHUP path
    assert holder.get().build_id == "second-build"


def test_broken_new_build_keeps_serving_the_old_one(trained_copy: Path) -> None:
    holder = StoreHolder(trained_copy, check_interval=0.0)
    _rebuild(trained_copy, "second-build", "Renamed Movie")
    (trained_copy / "popular.csv").write_text("garbage\n")
    holder.get()
    holder.wait_idle()
    assert holder.get().build_id == BUILD_ID
    assert not holder.reload()


def test_a_request_keeps_its_store_while_a_reload_swaps(trained_copy: Path) -> None:
    app = create_app({"TRAINED_DATA": str(trained_copy), "SECRET_KEY": "x", "RELOAD_INTERVAL": -1})
    holder = store_holder(app)
    from webapp import current_store

    with app.test_request_context("/"):
        before = current_store()
        _rebuild(trained_copy, "second-build", "Renamed Movie")
        assert holder.reload()
        assert current_store() is before  # same request, same store
    with app.test_request_context("/"):
        assert current_store().build_id == "second-build"


def test_reload_under_load_never_serves_errors(trained_copy: Path) -> None:
    app = create_app({"TRAINED_DATA": str(trained_copy), "SECRET_KEY": "x", "RELOAD_INTERVAL": 0})
    client = app.test_client()
    failures: list[int] = []
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            status = client.get("/recommendations?movie_ids=1&movie_ids=5&movie_ids=20").status_code
            if status != 200:
                failures.append(status)

    thread = threading.Thread(target=hammer)
    thread.start()
    for n in range(3):
        _rebuild(trained_copy, f"build-{n}", f"Title {n}")
        time.sleep(0.3)
    stop.set()
    thread.join()
    assert failures == []
    deadline = time.monotonic() + 10
    while client.get("/healthz").get_json()["build_id"] != "build-2" and time.monotonic() < deadline:
        store_holder(app).wait_idle()
    assert client.get("/healthz").get_json()["build_id"] == "build-2"


def test_store_tables_are_not_mutated_by_requests(client, store) -> None:
    before = {name: frame.copy() for name, frame in store.tables.items()}
    client.get("/recommendations?movie_ids=1&movie_ids=5&movie_ids=20")
    client.post("/api/recommendations", json={"movie_ids": [2, 3, 4]})
    client.get("/api/movies?q=the")
    for name, frame in before.items():
        pd.testing.assert_frame_equal(store.tables[name], frame)


def test_webapp_imports_no_heavy_or_offline_modules(trained_dir: Path) -> None:
    import subprocess
    import sys

    code = (
        "import sys; from webapp import create_app; "
        f"create_app({{'TRAINED_DATA': {str(trained_dir)!r}, 'SECRET_KEY': 'x'}}); "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('pyspark', 'tensorflow', 'keras', 'sklearn', 'offline')); print(bad); sys.exit(bool(bad))"
    )
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# ---------------------------------------------------------------- failed loads: keep serving, say why
def _break(directory: Path, build_id: str) -> None:
    """Publish a build whose knn_neighbors table does not match the manifest's sha256."""
    write_trained_data(directory, make_tables(), build_id=build_id)
    with (directory / "knn_neighbors.csv").open("a") as handle:
        handle.write("1,2,0.5,99,cf\n")


class _FlakyLoader:
    """load_store, except that loads after the first raise the given exception."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc
        self.calls = 0

    def __call__(self, directory: Path):
        self.calls += 1
        if self.calls > 1:
            raise self.exc
        return load_store(directory)


@pytest.mark.parametrize(
    "exc",
    [
        FileNotFoundError("knn_neighbors.csv vanished mid-swap"),
        MemoryError(),
        pd.errors.ParserError("Error tokenizing data"),
        KeyError("movie_id"),
    ],
)
def test_any_load_error_keeps_the_store_and_is_not_retried_in_a_tight_loop(
    trained_copy: Path, exc: BaseException, monkeypatch
) -> None:
    import types

    import webapp.holder

    clock = [1000.0]  # the holder's monotonic clock, moved by hand: no sleeping, no timing
    monkeypatch.setattr(
        webapp.holder,
        "time",
        types.SimpleNamespace(monotonic=lambda: clock[0], time=time.time, sleep=time.sleep),
    )
    loader = _FlakyLoader(exc)
    holder = StoreHolder(trained_copy, check_interval=0.0, loader=loader)
    _rebuild(trained_copy, "second-build", "Renamed Movie")
    assert holder.reload() is False  # SIGHUP's path: nothing escapes
    assert holder.get().build_id == BUILD_ID
    refusal = holder.refusal
    assert refusal is not None and refusal.build_id == "second-build" and refusal.failures == 1
    assert refusal.reason.startswith(type(exc).__name__) and "\n" not in refusal.reason

    def requests(seconds: float) -> None:
        """A request every 10 ms for this long."""
        for _ in range(int(seconds * 100)):
            clock[0] += 0.01
            holder.get()
            holder.wait_idle()

    requests(webapp.holder.RETRY_FIRST_S - 0.1)
    assert loader.calls == 2  # no new load before the pause is over
    requests(0.2)
    assert loader.calls == 3 and holder.refusal.failures == 2  # then one
    requests(2 * webapp.holder.RETRY_FIRST_S - 0.2)
    assert loader.calls == 3  # the next pause is twice as long
    requests(0.3)
    assert loader.calls == 4 and holder.refusal.failures == 3
    assert holder.refusal.since == refusal.since and holder.get().build_id == BUILD_ID


def test_a_broken_build_is_refused_until_the_folder_changes(trained_copy: Path) -> None:
    calls = []

    def loader(directory: Path):
        calls.append(directory)
        return load_store(directory)

    holder = StoreHolder(trained_copy, check_interval=0.0, loader=loader)
    _break(trained_copy, "broken-build")
    for _ in range(5):
        holder.get()
        holder.wait_idle()
    assert len(calls) == 2  # start-up, then one try of the broken build
    refusal = holder.refusal
    assert refusal.build_id == "broken-build" and "sha256" in refusal.reason
    assert str(trained_copy) not in refusal.reason  # the folder's path is not shown on /healthz
    _rebuild(trained_copy, "fixed-build", "Fixed")
    holder.get()
    holder.wait_idle()
    assert holder.get().build_id == "fixed-build" and holder.refusal is None


def test_healthz_says_which_build_was_refused_and_why(trained_copy: Path) -> None:
    app = create_app({"TRAINED_DATA": str(trained_copy), "SECRET_KEY": "x", "RELOAD_INTERVAL": -1})
    client = app.test_client()
    assert client.get("/healthz").get_json()["refused"] is None
    _break(trained_copy, "broken-build")
    assert store_holder(app).reload() is False
    body = client.get("/healthz").get_json()
    assert body["status"] == "ok" and body["build_id"] == BUILD_ID
    assert body["refused"]["build_id"] == "broken-build"
    assert body["refused"]["reason"] == (
        "table knn_neighbors (knn_neighbors.csv) is corrupt: its sha256 differs from the manifest"
    )
    assert body["refused"]["since"] and body["refused"]["manifest_modified"]


def test_watch_loads_new_builds_without_requests(trained_copy: Path) -> None:
    """gunicorn's master serves no requests: its watcher thread loads each new build."""
    holder = StoreHolder(trained_copy, check_interval=0.05)
    holder.watch()
    try:
        _rebuild(trained_copy, "watched-build", "Watched")
        deadline = time.monotonic() + 10
        while holder.current.build_id != "watched-build" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert holder.current.build_id == "watched-build"
        assert holder.current.movies[1].title == "Watched"
    finally:
        holder.stop_watching()


def test_less_known_levels_are_25_and_100_on_full_size_data() -> None:
    """The write-ups' thresholds (hidden gems >= 25 ratings, better known >= 100) hold once the
    pool is big enough; on small data the pool's floor and the fallback apply."""
    import numpy as np
    import pandas as pd

    from webapp.store import less_known_levels

    rng = np.random.default_rng(1)
    full = pd.DataFrame({"vote_count": rng.integers(5, 1500, 20_000), "pool": "less_known"})
    assert less_known_levels(full, floor=5) == {"gems": 25, "known": 100}
    small = pd.DataFrame({"vote_count": rng.integers(5, 27, 3_000), "pool": "less_known"})
    assert less_known_levels(small, floor=5) == {"gems": 5, "known": 25}
    tiny = pd.DataFrame({"vote_count": [5, 6, 7, 8, 9], "pool": "less_known"})
    assert less_known_levels(tiny, floor=5) == {"gems": 5, "known": 7}


def test_factor_columns_are_f_and_ascii_digits_only() -> None:
    """A column named "f²" is not a factor column ("²".isdigit() is true, but int("²") raises),
    and reading the table does not crash on it."""
    from webapp.store import Factors

    frame = pd.DataFrame({"movie_id": [1, 2], "f1": [0.5, 0.6], "f0": [0.1, 0.2], "f²": [9.0, 9.0]})
    factors = Factors.from_frame(frame, "movie_id")
    assert factors.matrix.tolist() == [[0.1, 0.5], [0.2, 0.6]]  # f0 then f1, nothing of f²


def test_the_store_keeps_only_the_frames_the_views_read(store) -> None:
    """The neighbour lists, factors and NeuMF lists live on as the recommender's indices; their
    frames are dropped after loading (on a 25M build they held about 260 MB per worker)."""
    from webapp.store import KEPT_TABLES

    assert set(store.tables) == set(KEPT_TABLES)
    assert store.recommender.knn is not None and store.recommender.als_factors is not None
