"""pipeline.learn: tree export/evaluation against scikit-learn, and model-file headers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from pipeline.errors import ModelFileError
from pipeline.learn.modelfile import check_header, read_model_json
from pipeline.learn.trees import TreeEnsemble


@pytest.fixture(autouse=True)
def _one_openmp_thread() -> Iterator[None]:
    """Fitting with OpenMP threads on a busy 2-core machine thrashes (95 s instead of 5 s)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="openmp"):
        yield


def _data(n: int = 3000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 6))
    y = (x[:, 0] + x[:, 1] * x[:, 2] > 0.3).astype(int)
    x[rng.random(x.shape) < 0.05] = np.nan
    return x, y


def test_classifier_export_matches_scikit_learn_after_json() -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier

    x, y = _data()
    clf = HistGradientBoostingClassifier(max_iter=30, random_state=0).fit(x, y)
    t = TreeEnsemble.from_dict(json.loads(json.dumps(TreeEnsemble.from_sklearn(clf).to_dict())))
    want = clf._raw_predict(x).ravel()
    np.testing.assert_allclose(t.raw(x), want, rtol=0, atol=1e-9)
    np.testing.assert_allclose(t.raw_numpy(x), want, rtol=0, atol=1e-9)
    split = t.raw(x, stop=10) + t.raw(x, start=10, baseline=False)
    np.testing.assert_allclose(split, want, rtol=0, atol=1e-9)
    np.testing.assert_allclose(t.predict_proba(x), clf.predict_proba(x)[:, 1], atol=1e-9)


def test_regressor_export_matches_scikit_learn() -> None:
    from sklearn.ensemble import HistGradientBoostingRegressor

    x, y = _data()
    target = y + 0.1 * np.nan_to_num(x[:, 3])
    reg = HistGradientBoostingRegressor(max_iter=20, random_state=0).fit(x, target)
    t = TreeEnsemble.from_sklearn(reg)
    np.testing.assert_allclose(t.raw(x), reg.predict(x), rtol=0, atol=1e-9)


def test_older_change_model_trees_without_depth_still_load() -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier

    x, y = _data()
    clf = HistGradientBoostingClassifier(max_iter=10, max_depth=4, random_state=0).fit(x, y)
    t = TreeEnsemble.from_sklearn(clf)
    d = t.to_dict()
    del d["depth"]
    d["threshold"] = [np.inf if v is None else v for v in d["threshold"]]  # older files
    back = TreeEnsemble.from_dict(json.loads(json.dumps(d)))
    assert back.depth == t.depth <= 4
    np.testing.assert_array_equal(back.raw_numpy(x), t.raw_numpy(x))


def test_multiclass_and_broken_trees_are_refused() -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier

    x, _ = _data(300)
    three = HistGradientBoostingClassifier(max_iter=2).fit(x, np.arange(300) % 3)
    with pytest.raises(ValueError, match="3 classes"):
        TreeEnsemble.from_sklearn(three)
    good = TreeEnsemble.from_sklearn(
        HistGradientBoostingClassifier(max_iter=2).fit(x, np.arange(300) % 2)
    ).to_dict()
    loop = {**good, "left": [0] * len(good["left"])}  # a child before its parent: endless walk
    with pytest.raises(ValueError, match="out of range"):
        TreeEnsemble.from_dict(loop)
    with pytest.raises(ValueError, match="differ in length"):
        TreeEnsemble.from_dict({**good, "value": good["value"][:-1]})
    with pytest.raises(KeyError):
        TreeEnsemble.from_dict({k: v for k, v in good.items() if k != "roots"})


def test_model_file_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match=r"missing\.json: model file not found"):
        read_model_json(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"\x80not json")
    with pytest.raises(ModelFileError, match=r"bad\.json: not a sitewatch model file"):
        read_model_json(bad)
    kw = {"format_tag": "fmt-a", "format_version": 2, "what": "thing", "train_hint": "make it"}
    ok = {"format": "fmt-a", "format_version": 2}
    assert check_header(ok, source="m.json", **kw) is ok
    with pytest.raises(ModelFileError, match=r"m\.json: not a sitewatch thing .*`make it`"):
        check_header({"format": "fmt-b"}, source="m.json", **kw)
    with pytest.raises(ModelFileError, match=r"m\.json: thing format version 1 is not 2"):
        check_header({"format": "fmt-a", "format_version": 1}, source="m.json", **kw)
    with pytest.raises(ModelFileError, match="not a sitewatch thing"):
        check_header([1, 2], source="m.json", **kw)
