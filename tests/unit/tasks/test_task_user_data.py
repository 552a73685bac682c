"""Tests of the loaders for participants' own data: image folders and CSV tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from consortium_tasks.breast_cancer_logreg.task import load_user_table
from consortium_tasks.digits_cnn.task import load_user_images
from consortium_tasks.errors import DatasetError
from consortium_tasks.user_data import load_csv_table, load_image_folder
from PIL import Image


def save_image(path: Path, size: tuple[int, int], value: int, mode: str = "L") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    color = value if mode == "L" else (value, 0, 0)
    Image.new(mode, size, color).save(path)


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    lines = [",".join(header)] + [",".join(str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def image_root(tmp_path: Path) -> Path:
    save_image(tmp_path / "cat" / "a.png", (8, 8), 255)
    save_image(tmp_path / "cat" / "b.JPG", (8, 8), 0, mode="RGB")
    save_image(tmp_path / "dog" / "c.png", (8, 8), 51)
    (tmp_path / "dog" / "notes.txt").write_text("not an image")
    return tmp_path


def test_image_folder_reads_classes_and_pixels(image_root: Path) -> None:
    data = load_image_folder(image_root)
    assert data.class_names == ("cat", "dog")
    assert data.features.shape == (3, 1, 8, 8) and data.features.dtype == torch.float32
    assert data.labels.tolist() == [0, 0, 1]
    assert float(data.features[0].max()) == 1.0
    assert float(data.features[2].mean()) == pytest.approx(0.2)


def test_image_folder_resizes_and_keeps_color(tmp_path: Path) -> None:
    save_image(tmp_path / "a" / "1.png", (20, 10), 255, mode="RGB")
    save_image(tmp_path / "b" / "2.png", (6, 6), 0, mode="RGB")
    data = load_image_folder(tmp_path, grayscale=False, size=(4, 5))
    assert data.features.shape == (2, 3, 4, 5)


def test_image_folder_maps_labels_through_given_class_names(tmp_path: Path) -> None:
    save_image(tmp_path / "7" / "x.png", (8, 8), 0)
    data = load_image_folder(tmp_path, class_names=[str(d) for d in range(10)])
    assert data.labels.tolist() == [7] and len(data.class_names) == 10


def test_image_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist or is not a folder"):
        load_image_folder(tmp_path / "missing")
    with pytest.raises(DatasetError, match="has no class folders"):
        load_image_folder(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match=r"has no \.png or \.jpg images"):
        load_image_folder(tmp_path)


def test_image_folder_needs_one_size_or_a_resize(tmp_path: Path) -> None:
    save_image(tmp_path / "a" / "1.png", (8, 8), 0)
    save_image(tmp_path / "b" / "2.png", (9, 9), 0)
    with pytest.raises(DatasetError, match="different sizes"):
        load_image_folder(tmp_path)
    assert load_image_folder(tmp_path, size=(8, 8)).features.shape == (2, 1, 8, 8)


def test_unreadable_image_is_named(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DatasetError, match=r"cannot read image .*broken\.png"):
        load_image_folder(tmp_path)


def test_unknown_class_folder_is_refused(tmp_path: Path) -> None:
    save_image(tmp_path / "cat" / "1.png", (8, 8), 0)
    with pytest.raises(DatasetError, match=r"label 'cat' .* not one of the classes"):
        load_image_folder(tmp_path, class_names=["0", "1"])


def test_digits_task_reads_an_image_folder_as_8x8(tmp_path: Path) -> None:
    save_image(tmp_path / "3" / "x.png", (28, 28), 255)
    x, y = load_user_images({"data-path": str(tmp_path)})
    assert x.shape == (1, 1, 8, 8) and y.tolist() == [3]


def test_csv_table_reads_features_and_labels(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", ["a", "label", "b"], [[1, "yes", 2.5], [3, "no", -1]])
    data = load_csv_table(path, label_column="label")
    assert data.feature_names == ("a", "b")
    assert data.class_names == ("no", "yes")
    assert data.labels.tolist() == [1, 0]
    assert torch.equal(data.features, torch.tensor([[1.0, 2.5], [3.0, -1.0]]))


def test_csv_integer_labels_keep_their_value(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", ["x", "y"], [[0.1, 2], [0.2, 2]])
    data = load_csv_table(path, label_column="y")
    assert data.labels.tolist() == [2, 2] and data.class_names == ("0", "1", "2")


@pytest.mark.parametrize(
    ("header", "rows", "label", "message"),
    [
        (["a", "b"], [[1, 0]], "target", "has no label column 'target'; columns: a, b"),
        (["a", "y"], [["high", 0]], "y", "column 'a' .* is not numeric: line 2 has 'high'"),
        (["a", "y"], [[1, 0], ["", 1]], "y", "column 'a' .* line 3 has ''"),
        (["y"], [[0]], "y", "no feature columns"),
        (["a", "y"], [], "y", "has a header but no rows"),
    ],
)
def test_csv_errors_name_the_problem(
    tmp_path: Path, header: list[str], rows: list[list[object]], label: str, message: str
) -> None:
    path = write_csv(tmp_path / "t.csv", header, rows)
    with pytest.raises(DatasetError, match=message):
        load_csv_table(path, label_column=label)


def test_missing_csv_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist or is not a file"):
        load_csv_table(tmp_path / "none.csv", label_column="y")


def test_breast_cancer_task_reads_and_scales_a_table(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    header = [f"f{i}" for i in range(30)] + ["diagnosis"]
    rows = [[*rng.random(30).round(4).tolist(), label] for label in ("malignant", "benign", 1)]
    path = write_csv(tmp_path / "mine.csv", header, rows)
    x, y = load_user_table({"data-path": str(path), "label-column": "diagnosis"})
    assert x.shape == (3, 30) and y.tolist() == [0, 1, 1]


def test_breast_cancer_task_checks_the_feature_count(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "mine.csv", ["a", "target"], [[1, 0]])
    with pytest.raises(DatasetError, match="needs 30 feature columns"):
        load_user_table({"data-path": str(path)})
