"""The model registry: save, load, list, resolve; concurrent-safe version numbers."""

from __future__ import annotations

from pathlib import Path

import lightgbm as lgb
import numpy as np
import pytest

from vigil.errors import InputError
from vigil.models import registry


def _booster() -> lgb.Booster:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    y = (x[:, 0] > 0).astype(float)
    params = {"objective": "binary", "verbosity": -1, "num_threads": 1, "min_data_in_leaf": 5}
    return lgb.train(params, lgb.Dataset(x, label=y), num_boost_round=3)


def test_round_trip(tmp_path: Path) -> None:
    booster = _booster()
    meta = registry.ModelMeta(
        name="demo",
        features=[
            registry.FeatureSpec("a", "numeric"),
            registry.FeatureSpec("b", "categorical", levels=["x", "y"]),
        ],
        training_window=registry.TrainingWindow("2026-01-01T00:00:00Z", None, 200),
        params={"num_leaves": 31},
        metrics={"auc_roc": 0.9},
        data_fingerprint="sha256:abc",
        extra={"anything": [1, 2]},
    )
    v1 = registry.save(tmp_path, booster, meta, files={"calibration.json": b"{}"})
    v2 = registry.save(tmp_path, booster.model_to_string().encode(), meta)
    assert (v1, v2) == ("v0001", "v0002")
    loaded, got = registry.load(tmp_path, v1)
    x = np.random.default_rng(1).normal(size=(10, 3))
    assert np.allclose(loaded.predict(x), booster.predict(x))
    assert got.features == meta.features and got.extra == meta.extra and got.version == v1
    assert (registry.artifact_dir(tmp_path, v1) / "calibration.json").read_bytes() == b"{}"
    assert [e.version for e in registry.list_versions(tmp_path)] == ["v0001", "v0002"]
    assert registry.resolve(tmp_path, "latest") == "v0002"
    assert registry.resolve(tmp_path, "1") == "v0001"
    assert registry.resolve(tmp_path, "demo") == "v0002"
    assert registry.read_meta(tmp_path, "v0001").metrics == {"auc_roc": 0.9}
    _, direct = registry.load_dir(tmp_path / "v0001")
    assert direct.version == "v0001"


def test_unknown_and_empty(tmp_path: Path) -> None:
    assert registry.list_versions(tmp_path / "none") == []
    with pytest.raises(InputError, match="holds no model"):
        registry.load(tmp_path, "latest")
    registry.save(tmp_path, _booster(), registry.ModelMeta(name="m", features=[]))
    with pytest.raises(InputError, match="no model 'v0009'"):
        registry.resolve(tmp_path, "v0009")


def test_a_leftover_temporary_folder_is_skipped(tmp_path: Path) -> None:
    (tmp_path / ".v0001.tmp").mkdir()  # a crashed save
    version = registry.save(tmp_path, _booster(), registry.ModelMeta(name="m", features=[]))
    assert version == "v0002"
    assert [e.version for e in registry.list_versions(tmp_path)] == ["v0002"]


def test_fingerprint_depends_on_bytes(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"1")
    b.write_bytes(b"1")
    assert registry.fingerprint_files([a]) == registry.fingerprint_files([b])
    b.write_bytes(b"2")
    assert registry.fingerprint_files([a]) != registry.fingerprint_files([b])
