"""Publishing: manifest contents, atomic swap, a failed build leaves the old tables intact."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pandas as pd
import pytest

from offline import build, publish
from offline.build import Stage, StageResult, run_stages
from offline.config import BuildConfig


class FakeStages:
    """Stand-in stage modules: a table that depends on the seed, and one that can fail."""

    fail = False
    extra_table = False  # numbers also writes `squares` (a table a later version stops making)

    @classmethod
    def run_numbers(cls, ctx) -> StageResult:
        values = ctx.rng("numbers").random(5)
        tables = {"numbers": pd.DataFrame({"i": range(5), "value": values})}
        if cls.extra_table:
            tables["squares"] = pd.DataFrame({"i": range(5), "value": values**2})
        return StageResult(tables, {"mean": float(values.mean())})

    @classmethod
    def run_movies(cls, ctx) -> StageResult:
        if cls.fail:
            raise RuntimeError("stage blew up halfway")
        return StageResult({"movie_list": ctx.data.movies[["movie_id", "title"]]})


@pytest.fixture
def fake_registry(monkeypatch: pytest.MonkeyPatch):
    stages = {"numbers": FakeStages.run_numbers, "movie_list": FakeStages.run_movies}
    registry = {name: dataclasses.replace(Stage(name, "unused")) for name in stages}
    for name, fn in stages.items():
        object.__setattr__(registry[name], "run", fn)
    monkeypatch.setattr(build, "STAGES", registry)
    monkeypatch.setattr(build, "BUILD_STAGES", list(stages))
    FakeStages.fail = FakeStages.extra_table = False
    yield list(stages)
    FakeStages.fail = FakeStages.extra_table = False


def test_manifest_lists_tables_inputs_config_versions_metrics(config: BuildConfig, fake_registry) -> None:
    runs, manifest = run_stages(config, fake_registry)
    out = config.out_dir
    on_disk = json.loads((out / "manifest.json").read_text())
    assert on_disk == json.loads(json.dumps(manifest, default=str))
    entry = manifest["tables"]["numbers"]
    assert entry["rows"] == 5 and entry["columns"] == ["i", "value"]
    assert entry["sha256"] == publish.sha256_file(out / "numbers.csv")
    assert manifest["seed"] == config.seed and manifest["config"]["seed"] == config.seed
    assert set(manifest["input"]["files"]) >= {"ratings.csv", "movies.csv"}
    assert "pandas" in manifest["versions"]
    assert manifest["metrics"]["numbers"]["mean"] == pytest.approx(
        pd.read_csv(out / "numbers.csv")["value"].mean(), abs=1e-5
    )
    assert set(manifest["stages"]) == {"numbers", "movie_list"}
    assert [r.name for r in runs] == ["numbers", "movie_list"]
    publish.verify_tables(out)  # raises on any mismatch


def test_same_seed_same_bytes_other_seed_other_bytes(
    config: BuildConfig, fake_registry, tmp_path: Path
) -> None:
    _, first = run_stages(config, fake_registry)
    other = dataclasses.replace(config, out_dir=tmp_path / "again")
    _, second = run_stages(other, fake_registry)
    assert first["tables"] == second["tables"]
    reseeded = dataclasses.replace(config, out_dir=tmp_path / "reseeded", seed=config.seed + 1)
    _, third = run_stages(reseeded, fake_registry)
    assert third["tables"]["numbers"]["sha256"] != first["tables"]["numbers"]["sha256"]


def test_failed_build_leaves_previous_tables_untouched(config: BuildConfig, fake_registry) -> None:
    run_stages(config, fake_registry)
    before = {p.name: p.read_bytes() for p in config.out_dir.iterdir()}
    FakeStages.fail = True
    reseeded = dataclasses.replace(config, seed=config.seed + 1)  # would change numbers.csv
    with pytest.raises(RuntimeError, match="blew up"):
        run_stages(reseeded, fake_registry)
    after = {p.name: p.read_bytes() for p in config.out_dir.iterdir()}
    assert after == before
    leftovers = [p.name for p in config.out_dir.parent.glob(".trained_data.*")]
    assert leftovers == [".trained_data.lock"]  # the build lock's file stays; no staging folder


def test_one_stage_rebuild_keeps_the_other_tables(config: BuildConfig, fake_registry) -> None:
    _, first = run_stages(config, fake_registry)
    reseeded = dataclasses.replace(config, seed=config.seed + 1)
    _, second = run_stages(reseeded, ["numbers"])
    assert second["tables"]["movie_list"] == first["tables"]["movie_list"]
    assert second["tables"]["numbers"]["sha256"] != first["tables"]["numbers"]["sha256"]
    publish.verify_tables(config.out_dir)


def test_a_table_the_stage_no_longer_writes_goes_with_its_rebuild(config: BuildConfig, fake_registry) -> None:
    """A one-stage rebuild starts from a copy of the previous folder: a table that the stage's
    earlier version wrote (neumf_movie_embeddings, say) used to stay, published as if the new
    run had made it."""
    FakeStages.extra_table = True
    _, first = run_stages(config, fake_registry)
    assert {"numbers", "squares", "movie_list"} <= set(first["tables"])
    FakeStages.extra_table = False
    _, second = run_stages(config, ["numbers"])
    assert set(second["tables"]) == set(first["tables"]) - {"squares"}
    assert not (config.out_dir / "squares.csv").exists()
    assert second["tables"]["movie_list"] == first["tables"]["movie_list"]
    publish.verify_tables(config.out_dir)
    # a table of another stage stays although this run did not write it
    _, third = run_stages(config, ["movie_list"])
    assert set(third["tables"]) == set(second["tables"])


@pytest.mark.parametrize("folder", ["missing", "empty", "without a manifest"])
def test_a_one_stage_rebuild_needs_an_earlier_build(
    config: BuildConfig, fake_registry, monkeypatch: pytest.MonkeyPatch, folder: str
) -> None:
    """It used to publish that stage's tables alone: a folder the web app refuses, and the
    stage's work (minutes on the full releases) wasted."""
    out = config.out_dir
    if folder != "missing":
        out.mkdir()
    if folder == "without a manifest":
        (out / "movie_list.csv").write_text("movie_id,title\n1,Toy Story (1995)\n")
    before = sorted(p.name for p in out.iterdir()) if out.exists() else None
    with pytest.raises(
        publish.OutDirError, match=r"holds no build to rebuild numbers into: run `python -m offline build`"
    ):
        run_stages(config, ["numbers"])
    assert (sorted(p.name for p in out.iterdir()) if out.exists() else None) == before
    assert [p.name for p in out.parent.glob(".trained_data.staging-*")] == []
    # a stage outside the build (evaluate: its report only) needs no earlier build
    monkeypatch.setattr(build, "BUILD_STAGES", ["movie_list"])
    _, manifest = run_stages(config, ["numbers"])
    assert set(manifest["tables"]) >= {"numbers"}


def test_staleness_follows_config_and_tables(config: BuildConfig, fake_registry) -> None:
    assert "no manifest.json" in build.stale_reason(config)
    run_stages(config, fake_registry)
    assert build.stale_reason(config) is None
    changed = dataclasses.replace(config, seed=config.seed + 1)
    assert build.stale_reason(changed) == "configuration changed since the last build"
    (config.out_dir / "numbers.csv").write_text("tampered\n")
    assert "does not match its sha256" in build.stale_reason(config)


def test_swap_replaces_whole_folder(tmp_path: Path) -> None:
    target, staging = tmp_path / "t", tmp_path / "s"
    target.mkdir(), staging.mkdir()
    (target / "old.csv").write_text("old")
    (staging / "new.csv").write_text("new")
    publish.swap_into_place(staging, target)
    assert [p.name for p in target.iterdir()] == ["new.csv"]
    assert not staging.exists()


def test_an_out_dir_that_is_a_file_is_refused_before_any_work(config: BuildConfig, fake_registry) -> None:
    """The build used to swap a file out of the way under a hidden staging name, publish a folder
    in its place and then fail."""
    config.out_dir.write_text("precious\n")
    with pytest.raises(publish.OutDirError, match="is a file, not a folder of tables"):
        run_stages(config, fake_registry)
    assert config.out_dir.read_text() == "precious\n"
    assert [p.name for p in config.out_dir.parent.glob(f".{config.out_dir.name}*")] == []


@pytest.mark.parametrize("partial", [False, True])
def test_a_folder_of_other_things_is_never_replaced(
    config: BuildConfig, fake_registry, partial: bool
) -> None:
    """A full build deleted whatever the --out-dir folder held (a typo, or the project root)."""
    out = config.out_dir
    (out / "src").mkdir(parents=True)
    (out / "src" / "main.py").write_text("code\n")
    (out / "thesis.txt").write_text("thesis\n")
    with pytest.raises(publish.OutDirError, match=r"holds src, thesis\.txt, which no build writes"):
        run_stages(config, ["numbers"] if partial else fake_registry)
    assert sorted(p.name for p in out.iterdir()) == ["src", "thesis.txt"]
    assert (out / "thesis.txt").read_text() == "thesis\n" and (out / "src" / "main.py").is_file()


def test_new_empty_checkout_and_broken_build_folders_are_published_into(
    config: BuildConfig, fake_registry
) -> None:
    out = config.out_dir
    out.mkdir()
    run_stages(config, fake_registry)  # an empty folder
    (out / "manifest.json").unlink()  # a broken build: its rebuild is the repair
    (out / "README.md").write_text("what this folder is\n")  # as the checkout has it
    run_stages(config, fake_registry)
    publish.verify_tables(out)
    assert (out / "README.md").read_text() == "what this folder is\n"


def test_something_put_in_the_folder_during_the_build_stops_the_swap(tmp_path: Path) -> None:
    target, staging = tmp_path / "t", tmp_path / "s"
    target.mkdir(), staging.mkdir()
    (target / "notes.txt").write_text("mine")
    (staging / "new.csv").write_text("new")
    with pytest.raises(publish.OutDirError, match="notes.txt"):
        publish.swap_into_place(staging, target)
    assert [p.name for p in target.iterdir()] == ["notes.txt"]


def test_a_second_build_stops_at_once_and_leaves_the_first_ones_staging(
    config: BuildConfig, fake_registry
) -> None:
    """Without a lock, the second build deleted the running build's staging folder."""
    run_stages(config, fake_registry)
    first_staging = config.out_dir.with_name(".trained_data.staging-999999-abcdef")
    with publish.build_lock(config.out_dir):  # the first build, still running
        first_staging.mkdir()
        with pytest.raises(publish.BuildLockedError, match=r"another build \(pid \d+\)"):
            run_stages(dataclasses.replace(config, seed=config.seed + 1), fake_registry)
        assert first_staging.is_dir()
    publish.verify_tables(config.out_dir)
    run_stages(config, fake_registry)  # once the first is done, a build cleans up after it
    assert not first_staging.exists()


def test_one_stage_rebuild_from_other_data_is_not_current(
    config: BuildConfig, fake_registry, tmp_path: Path
) -> None:
    """A one-stage rebuild used to stamp the new input's fingerprint on the whole folder."""
    import shutil

    run_stages(config, fake_registry)
    other_data = tmp_path / "other"
    shutil.copytree(config.data_dir, other_data)
    with (other_data / "ratings.csv").open("a") as f:
        f.write("611,1,4.0,964982703\n")
    other = dataclasses.replace(config, data_dir=other_data)
    run_stages(other, ["numbers"])
    assert build.stale_reason(config) == ("input data changed since stage(s) numbers were built")
    assert build.stale_reason(other) == ("input data changed since stage(s) movie_list were built")
    run_stages(other, fake_registry)
    assert build.stale_reason(other) is None


def test_symlinked_trained_data_is_published_behind_its_link(
    config: BuildConfig, fake_registry, tmp_path: Path
) -> None:
    real = tmp_path / "builds" / "current"
    real.mkdir(parents=True)
    link = tmp_path / "site" / "trained_data"
    link.parent.mkdir()
    link.symlink_to(real)
    linked = dataclasses.replace(config, out_dir=link)
    _, first = run_stages(linked, fake_registry)
    _, second = run_stages(dataclasses.replace(linked, seed=config.seed + 1), fake_registry)
    assert link.is_symlink() and link.resolve() == real.resolve()
    assert json.loads((real / "manifest.json").read_text())["build_id"] == second["build_id"]
    assert second["build_id"] != first["build_id"]
    publish.verify_tables(link)


def test_duplicate_movie_ids_in_links_and_posters_are_bad_rows(
    config: BuildConfig, spark, tmp_path: Path
) -> None:
    """Repeated ids used to duplicate movie rows, which the web app then refused to load."""
    import shutil

    from offline.data.loader import load_dataset

    data = tmp_path / "data"
    shutil.copytree(config.data_dir, data)
    with (data / "links.csv").open("a") as f:
        f.write("1,0114709,862\n")  # movie 1 again (line 9744)
    posters = tmp_path / "posters.csv"
    shutil.copy(config.posters_path, posters)
    with posters.open("a") as f:
        f.write('2,"Jumanji (1995)",Adventure,https://example.org/x.jpg\n')
    loaded = load_dataset(data, posters, spark=spark, work_dir=tmp_path / "work")
    bad = loaded.bad_rows.to_dict()
    assert bad["links.csv"]["duplicate_movie_id"]["count"] == 1
    assert bad["links.csv"]["duplicate_movie_id"]["example_lines"] == [9744]
    assert bad["posters.csv"]["duplicate_movie_id"]["count"] == 1
    from offline.stages.movies import compute_movies

    table = compute_movies(loaded.movies, loaded.links, loaded.posters)
    assert table["movie_id"].is_unique and len(table) == 9742


def test_spark_checkpoints_live_in_the_work_folder_and_go_with_the_build(config: BuildConfig, spark) -> None:
    """They used to go to one fixed folder under /tmp that nothing ever cleaned."""
    ctx = build.BuildContext(config)
    ctx.spark  # noqa: B018
    checkpoints = Path(ctx._checkpoints)
    assert checkpoints.parent == Path(config.work_dir) and checkpoints.is_dir()
    # Spark puts its own sub-folder in the folder it is given
    assert Path(spark.sparkContext.getCheckpointDir().removeprefix("file:")).parent.name == checkpoints.name
    ctx.close()
    assert not checkpoints.exists()


def test_the_code_fingerprint_covers_every_webapp_module_the_recommender_imports() -> None:
    """The evaluation and the build's status share webapp/recommend.py; a change to any module it
    imports (directly or not) must change the code fingerprint, or a stale build looks current."""
    import ast

    webapp = build.PROJECT_ROOT / "webapp"
    seen: set[str] = set()
    todo = ["recommend"]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        tree = ast.parse((webapp / f"{name}.py").read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("webapp."):
                todo.append(node.module.split(".", 1)[1])
    assert {f"{name}.py" for name in seen} <= set(build.RECOMMENDER_MODULES)
    assert {"blend", "sources", "reasons"} <= seen  # the walk follows imports
