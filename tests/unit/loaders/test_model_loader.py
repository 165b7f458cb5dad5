from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_models import Linear

from audit.errors import ModelError
from audit.loaders.model import load_module, make_runner
from audit.spec import ModelSpec

X = np.array([[1.0, 0.0, 2.0], [0.0, 1.0, 0.0], [2.0, 2.0, 2.0], [0.5, 0.1, 0.0]], np.float32)


def spec(**kw) -> ModelSpec:
    return ModelSpec(task=kw.pop("task", "binary"), **kw)


def expected_p1(x: np.ndarray) -> np.ndarray:
    z = x @ np.array([1.0, -2.0, 0.5]) + 0.0
    return 1 / (1 + np.exp(-z))


def test_export_archive_with_dynamic_batch(tmp_path: Path):
    path = tmp_path / "m.pt2"
    batch = torch.export.Dim("batch", min=1)
    prog = torch.export.export(Linear(), (torch.tensor(X),), dynamic_shapes=({0: batch},))
    torch.export.save(prog, str(path))
    s = spec(path=path)
    runner = make_runner(s, load_module(s), X)
    assert runner.fixed_batch is None
    np.testing.assert_allclose(runner.predict_proba(X)[:, 1], expected_p1(X), rtol=1e-5)


def test_export_archive_with_fixed_batch_runs_in_padded_chunks(tmp_path: Path):
    path = tmp_path / "m.pt2"
    torch.export.save(torch.export.export(Linear(), (torch.tensor(X),)), str(path))
    s = spec(path=path)
    runner = make_runner(s, load_module(s), X)
    assert runner.fixed_batch == 4
    x = np.concatenate([X, X[:3]])
    np.testing.assert_allclose(
        runner.predict_proba(x, batch_size=5)[:, 1], expected_p1(x), rtol=1e-5
    )


def test_torchscript(tmp_path: Path):
    path = tmp_path / "m.pt"
    torch.jit.save(torch.jit.script(Linear()), str(path))
    s = spec(path=path)
    runner = make_runner(s, load_module(s), X)
    np.testing.assert_allclose(runner.predict_proba(X)[:, 1], expected_p1(X), rtol=1e-5)


def test_pickled_module_is_refused_and_never_executed(tmp_path: Path):
    path = tmp_path / "m.pt"
    torch.save(Linear(), str(path))  # whole-module pickle
    with pytest.raises(ModelError, match=r"pickled Python object .* refused"):
        load_module(spec(path=path))


def test_not_torchscript(tmp_path: Path):
    path = tmp_path / "m.pt"
    path.write_text("definitely not a model")
    with pytest.raises(ModelError, match="not a TorchScript archive"):
        load_module(spec(path=path))


def test_factory_with_state_dict(tmp_path: Path):
    weights = tmp_path / "w.pt"
    torch.save(Linear().state_dict(), weights)
    s = spec(factory="tiny_models:linear", weights=weights)
    runner = make_runner(s, load_module(s), X)
    np.testing.assert_allclose(runner.predict_proba(X)[:, 1], expected_p1(X), rtol=1e-5)


def test_weights_needing_unpickling_are_refused(tmp_path: Path):
    weights = tmp_path / "w.pt"
    torch.save({"linear.weight": Linear()}, weights)  # a module object inside
    with pytest.raises(ModelError, match="unsafe unpickling"):
        load_module(spec(factory="tiny_models:linear", weights=weights))


def test_unimportable_factory():
    with pytest.raises(ModelError, match="cannot import factory"):
        load_module(spec(factory="no_such_module:build"))


def test_binary_task_with_three_outputs_is_refused():
    s = spec(factory="tiny_models:three_outputs")
    with pytest.raises(
        ModelError, match="`task: binary` needs 1 or 2 outputs per row, the model gives 3"
    ):
        make_runner(s, load_module(s), X)


def test_multiclass_task_with_one_output_is_refused():
    s = spec(factory="tiny_models:linear", task="multiclass")
    with pytest.raises(ModelError, match="`task: multiclass` needs 3 or more"):
        make_runner(s, load_module(s), X)


def test_nan_outputs_are_refused():
    s = spec(factory="tiny_models:nan_outputs")
    runner = make_runner(s, load_module(s), X)
    with pytest.raises(ModelError, match="NaN or infinite outputs for 4 of 4 rows"):
        runner.predict_proba(X)


def test_probabilities_that_are_not():
    s = spec(factory="tiny_models:linear", output="probabilities")
    runner = make_runner(s, load_module(s), X)
    with pytest.raises(ModelError, match="not probabilities"):
        runner.predict_proba(X)


def test_input_width_mismatch_is_explained():
    s = spec(factory="tiny_models:linear")
    with pytest.raises(ModelError, match="failed on the first rows"):
        make_runner(s, load_module(s), np.zeros((3, 5), np.float32))


def test_decision_threshold_applies_to_class_one():
    s = spec(factory="tiny_models:linear", decision_threshold=0.9)
    runner = make_runner(s, load_module(s), X)
    proba = runner.predict_proba(X)
    np.testing.assert_array_equal(runner.decide(proba), (expected_p1(X) >= 0.9).astype(int))
