from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from audit.errors import DataError
from audit.loaders.data import load_dataset
from audit.spec import DataSpec, ModelSpec

BINARY = ModelSpec(path=Path("m.pt2"), task="binary")


def frame(n: int = 6) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "a": np.arange(n, dtype=float),
            "b": np.ones(n),
            "sex": ["F", "M"] * (n // 2),
            "y": [0, 1] * (n // 2),
        }
    )


def data_spec(path: Path, **kw) -> DataSpec:
    return DataSpec(
        path=path,
        label=kw.pop("label", "y"),
        features=kw.pop("features", ["a", "b"]),
        sensitive=kw.pop("sensitive", ["sex"]),
        **kw,
    )


def csv(tmp_path: Path, df: pd.DataFrame, name: str = "d.csv") -> Path:
    path = tmp_path / name
    df.to_csv(path, index=False)
    return path


def test_csv_round_trip(tmp_path):
    ds = load_dataset(data_spec(csv(tmp_path, frame())), BINARY)
    assert ds.x.shape == (6, 2) and ds.x.dtype == np.float32
    assert ds.y.tolist() == [0, 1] * 3
    assert ds.sensitive["sex"].tolist() == ["F", "M"] * 3
    assert ds.feature_names == ("a", "b")


def test_parquet(tmp_path):
    path = tmp_path / "d.parquet"
    frame().to_parquet(path)
    assert len(load_dataset(data_spec(path), BINARY)) == 6


def test_missing_column_is_named(tmp_path):
    spec = data_spec(csv(tmp_path, frame()), sensitive=["race"])
    with pytest.raises(DataError, match=r"column 'race' \(sensitive\) is not in the data"):
        load_dataset(spec, BINARY)


def test_duplicated_columns(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a,a,b,sex,y\n1,2,3,F,0\n")
    with pytest.raises(DataError, match="duplicated column name"):
        load_dataset(data_spec(path), BINARY)


def test_non_numeric_feature(tmp_path):
    df = frame().assign(b=["x"] * 6)
    with pytest.raises(DataError, match="feature column 'b' is not numeric"):
        load_dataset(data_spec(csv(tmp_path, df)), BINARY)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_inf_features(tmp_path, bad):
    df = frame()
    df.loc[2, "a"] = bad
    with pytest.raises(DataError, match=r"NaN or infinite feature value.*'a'"):
        load_dataset(data_spec(csv(tmp_path, df)), BINARY)


def test_missing_label(tmp_path):
    df = frame().astype({"y": float})
    df.loc[0, "y"] = np.nan
    with pytest.raises(DataError, match="label has 1 missing"):
        load_dataset(data_spec(csv(tmp_path, df)), BINARY)


def test_non_binary_label_for_binary_task(tmp_path):
    df = frame().assign(y=[0, 1, 2, 0, 1, 2])
    with pytest.raises(DataError, match=r"`task: binary` needs labels 0/1, found \[0, 1, 2\]"):
        load_dataset(data_spec(csv(tmp_path, df)), BINARY)


def test_empty_dataset(tmp_path):
    with pytest.raises(DataError, match="no rows"):
        load_dataset(data_spec(csv(tmp_path, frame().iloc[:0])), BINARY)


def test_unsupported_file_type(tmp_path):
    path = tmp_path / "d.xlsx"
    path.write_bytes(b"x")
    with pytest.raises(DataError, match="unsupported tabular file type"):
        load_dataset(data_spec(path), BINARY)


def test_npz_image(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(
        path,
        x=np.zeros((4, 1, 8, 8), np.float32),
        y=np.array([0, 1, 0, 1]),
        site=np.array(["a", "b", "a", "b"]),
    )
    model = ModelSpec(path=Path("m.pt2"), task="binary", modality="image")
    ds = load_dataset(DataSpec(path=path, label="y", sensitive=["site"]), model)
    assert ds.x.shape == (4, 1, 8, 8) and ds.modality == "image"


def test_npz_with_pickled_objects_is_refused(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.array([{"a": 1}] * 4, dtype=object), y=np.array([0, 1, 0, 1]))
    model = ModelSpec(path=Path("m.pt2"), task="binary", modality="text")
    with pytest.raises(DataError, match="pickled objects"):
        load_dataset(DataSpec(path=path, label="y"), model)


def test_npz_text_must_be_token_ids(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.zeros((4, 5), np.float32), y=np.array([0, 1, 0, 1]))
    model = ModelSpec(path=Path("m.pt2"), task="binary", modality="text")
    with pytest.raises(DataError, match="int64 token ids"):
        load_dataset(DataSpec(path=path, label="y"), model)


def test_category_labels_travel_with_the_data(tmp_path):
    df = frame().assign(b=[0, 1, 2, 0, 1, 2])
    ds = load_dataset(
        data_spec(csv(tmp_path, df), categories={"b": ["Private", "State", "Self"]}), BINARY
    )
    assert ds.categories == {"b": ("Private", "State", "Self")}


@pytest.mark.parametrize("bad", [3.0, -1.0, 0.5])
def test_a_value_that_is_no_code_of_its_labels_is_refused(tmp_path, bad):
    df = frame().assign(b=[0, 1, bad, 0, 1, 1])
    with pytest.raises(DataError) as err:
        load_dataset(data_spec(csv(tmp_path, df), categories={"b": ["x", "y", "z"]}), BINARY)
    assert "column 'b'" in err.value.where and "data.categories.b" in (err.value.fix or "")


def test_labels_for_a_column_that_is_no_feature_are_a_spec_error(tmp_path):
    with pytest.raises(ValueError, match="not in `features`"):
        data_spec(tmp_path / "d.csv", categories={"sex": ["F", "M"]})
