"""The learned change method: it learns what analysts label, stores plain JSON, fails clearly."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from pipeline.change.engine import ChangeParams, detect_change
from pipeline.change.evaluate import (
    NAIVE,
    evaluate,
    load_change_model,
    load_plain_pairs,
    naive_cva_mask,
    save_change_model,
)
from pipeline.change.learned import (
    ChangeModel,
    TrainingPair,
    TrainParams,
    learned_method,
    learned_params,
    train_change_model,
)
from pipeline.change.metrics import confusion
from pipeline.change.synthetic import make_pair
from pipeline.cli import build_app
from pipeline.errors import ConfigError, ModelFileError
from pipeline.learn.trees import TreeEnsemble

GSD = 0.5
FAST = TrainParams(pixels_per_pair=3000, max_iter=25, min_samples_leaf=40)


def _brightening_only(seed: int, *, shuffle: bool = False) -> TrainingPair:
    """A pair whose truth marks only the painted objects that got *brighter*.

    Darkened objects are as strong a change to any unsupervised score, so a
    model scoring well here has learned the analysts' labelling rule.
    """
    p = make_pair((128, 128), seed=seed, n_changes=8, change_px=(10, 20), dtype="uint8")
    brighter = p.after.astype(np.float32).mean(axis=0) > p.before.astype(np.float32).mean(axis=0)
    truth = (p.painted & brighter).astype(np.uint8)
    if shuffle:
        rng = np.random.default_rng(seed)
        truth = rng.permutation(truth.ravel()).reshape(truth.shape)
    return TrainingPair(f"syn{seed}", p.before, p.after, truth)


def _score(model: ChangeModel, pair: TrainingPair, **kw: object) -> np.ndarray:
    prm = learned_params(ChangeParams(), model)
    cm = detect_change(
        pair.before,
        pair.after,
        method=prm.method,
        threshold=prm.threshold,
        threshold_value=prm.threshold_value,
        gsd_m=GSD,
        params=prm,
        change_method=learned_method(model),
        **kw,  # type: ignore[arg-type]
    )
    return cm.mask


@pytest.fixture(scope="module")
def trained() -> ChangeModel:
    return train_change_model([_brightening_only(s) for s in (31, 32, 33)], FAST)


def test_learns_the_labelled_change_rule(trained: ChangeModel) -> None:
    held = _brightening_only(40)
    mask = _score(trained, held)
    c = confusion(mask, held.truth)
    assert c.f1 > 0.75, c.to_dict()
    # darkened objects are change to any unsupervised score, but not to these analysts
    p = make_pair((128, 128), seed=40, n_changes=8, change_px=(10, 20), dtype="uint8")
    darker = p.painted & (held.truth == 0)
    assert darker.sum() > 100
    naive = naive_cva_mask(held.before, held.after)
    assert naive[darker].mean() > 0.6
    assert mask[darker].mean() < 0.25


def test_shuffled_labels_teach_nothing() -> None:
    model = train_change_model([_brightening_only(s, shuffle=True) for s in (31, 32, 33)], FAST)
    held = _brightening_only(40)
    assert confusion(_score(model, held), held.truth).f1 < 0.3


def test_blockwise_equals_whole_array(trained: ChangeModel) -> None:
    held = _brightening_only(41)
    whole = _score(trained, held)
    blocks = _score(trained, held, block_size=48)
    np.testing.assert_array_equal(whole, blocks)


def test_trees_reproduce_sklearn() -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(0)
    x = rng.normal(size=(3000, 5))
    y = ((x[:, 0] + x[:, 1] * x[:, 2]) > 0.3).astype(int)
    x[rng.random(x.shape) < 0.05] = np.nan
    clf = HistGradientBoostingClassifier(max_iter=30, random_state=0).fit(x, y)
    ens = TreeEnsemble.from_sklearn(clf)
    np.testing.assert_allclose(ens.predict_proba(x), clf.predict_proba(x)[:, 1], atol=1e-9)


def test_model_json_round_trip(trained: ChangeModel, tmp_path: Path) -> None:
    text = json.dumps(trained.to_dict())
    back = ChangeModel.from_dict(json.loads(text))
    assert back.version == trained.version and back.tag.startswith("sitewatch-change-classifier:")
    held = _brightening_only(40)
    np.testing.assert_array_equal(
        trained.predict_pair(held.before, held.after), back.predict_pair(held.before, held.after)
    )
    path = save_change_model(trained, tmp_path / "m.json")
    assert load_change_model(path).to_dict() == trained.to_dict()
    # the version is a hash of the training data and parameters
    again = train_change_model([_brightening_only(s) for s in (31, 32, 33)], FAST)
    assert again.version == trained.version
    pairs = [_brightening_only(s) for s in (31, 32, 34)]
    assert train_change_model(pairs, FAST).version != trained.version


def test_bad_model_files_are_clear_errors(trained: ChangeModel, tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="not found"):
        load_change_model(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ModelFileError, match=r"bad\.json.*expected JSON"):
        load_change_model(bad)
    d = trained.to_dict()
    with pytest.raises(ModelFileError, match="format tag"):
        ChangeModel.from_dict({**d, "format": "sitewatch-detect-classifier"}, source="x.json")
    trees = dict(d["trees"])
    trees["left"] = [0] * len(trees["left"])
    with pytest.raises(ModelFileError, match="x.json: malformed"):
        ChangeModel.from_dict({**d, "trees": trees}, source="x.json")
    with pytest.raises(ModelFileError, match="different features"):
        ChangeModel.from_dict({**d, "feature_names": ["a"]}, source="x.json")


def test_learned_without_a_model_is_a_clear_error() -> None:
    p = make_pair((64, 64), seed=0)
    with pytest.raises(ConfigError, match="needs a trained change model"):
        detect_change(p.before, p.after, method="learned", gsd_m=GSD)
    with pytest.raises(ValueError, match="both changed and unchanged"):
        one = _brightening_only(31)
        train_change_model([TrainingPair("x", one.before, one.after, one.truth * 0)], FAST)


def _write_levir(root: Path, pairs: list[TrainingPair], test: list[str]) -> None:
    for sub in ("A", "B", "label", "list"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for p in pairs:
        Image.fromarray(np.moveaxis(p.before, 0, -1)).save(root / "A" / f"{p.name}.png")
        Image.fromarray(np.moveaxis(p.after, 0, -1)).save(root / "B" / f"{p.name}.png")
        Image.fromarray((p.truth * 255).astype(np.uint8)).save(root / "label" / f"{p.name}.png")
    (root / "list" / "demo.txt").write_text("".join(f"{n}.png\n" for n in test))


def test_cli_train_change_and_eval(tmp_path: Path) -> None:
    pairs = [_brightening_only(s) for s in (31, 32, 40)]
    _write_levir(tmp_path / "levir", pairs, ["syn40"])
    runner = CliRunner()
    app = build_app()
    out = tmp_path / "model.json"
    r = runner.invoke(
        app,
        ["train-change", "--pairs", str(tmp_path / "levir"), "--out", str(out)]
        + ["--pixels-per-pair", "1000"],
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.output.strip().splitlines()[-1])["model"].startswith("sitewatch-change")
    assert load_change_model(out).n_pixels == 3000
    # in memory: trained on syn31 + syn32, scored on the test-listed syn40 only
    scores = evaluate(["learned"], levir=tmp_path / "levir", train_params=FAST)
    rows = {(s.method, s.dataset): s for s in scores}
    assert set(rows[("learned", "levir-test")].per_pair) == {"syn40"}
    assert rows[("learned", "levir-test")].total.f1 > 0.7
    assert (NAIVE, "levir-test") in rows
    r = runner.invoke(
        app, ["eval", "change", "--sample-tiles", str(tmp_path), "--method", "learned"]
    )
    assert r.exit_code == 2 and "--model" in r.output
    r = runner.invoke(
        app,
        ["eval", "change", "--levir", str(tmp_path / "levir"), "--method", "learned"]
        + ["--model", str(out), "--json"],
    )
    assert r.exit_code == 0, r.output
    got = {(s["method"], s["dataset"]) for s in json.loads(r.output)}
    assert ("learned", "levir-all") in got and (NAIVE, "levir-all") in got


@pytest.mark.realdata
def test_levir_eval_prints_the_naive_baseline(shared_data: Path) -> None:
    root = shared_data / "levir-cd-samples"
    if not (root / "list" / "demo.txt").exists():
        pytest.skip("LEVIR-CD samples not present")
    r = CliRunner().invoke(
        build_app(), ["eval", "change", "--levir", str(root), "--method", "cva", "--json"]
    )
    assert r.exit_code == 0, r.output
    rows = {(s["method"], s["dataset"]): s for s in json.loads(r.output)}
    naive = rows[(NAIVE, "levir-test")]
    assert naive["pairs"] == 7
    # the published reference: 0.32 on the 7 test-split pairs, 0.23 over all 11
    assert naive["micro"]["f1"] == pytest.approx(0.32, abs=0.02)
    assert rows[(NAIVE, "levir-all")]["micro"]["f1"] == pytest.approx(0.23, abs=0.02)
    assert len(load_plain_pairs(root)) == rows[("cva", "levir-all")]["pairs"]


def test_cli_change_on_tiles_with_a_trained_model(
    trained: ChangeModel, tmp_path: Path, write_tile: Callable[..., Path]
) -> None:
    """`sitewatch change --method learned --model M` writes the usual outputs, naming the model."""
    from datetime import UTC, datetime

    from .conftest import site_grid

    pair = _brightening_only(44)
    grid = site_grid(pair.truth.shape)
    b = write_tile("b.tif", pair.before, grid, datetime(2024, 12, 1, 8, tzinfo=UTC))
    a = write_tile("a.tif", pair.after, grid, datetime(2024, 12, 9, 8, tzinfo=UTC))
    model = save_change_model(trained, tmp_path / "model.json")
    app, runner = build_app(), CliRunner()
    out = tmp_path / "out"
    args = ["change", str(b), str(a), "--out", str(out), "--method", "learned"]
    r = runner.invoke(app, [*args, "--model", str(model), "--json"])
    assert r.exit_code == 0, r.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["method"] == f"learned:{trained.tag}"
    regions = json.loads((out / "regions.json").read_text())
    assert regions and {g["method"] for g in regions} == {f"learned:{trained.tag}"}
    assert (out / "score.tif").exists() and (out / "changes.gpkg").exists()
    r = runner.invoke(app, args)
    assert r.exit_code == 2 and "--model" in r.output
    r = runner.invoke(app, [*args[:-2], "--method", "cva", "--model", str(model)])
    assert r.exit_code == 2 and "--model goes with --method learned" in r.output
