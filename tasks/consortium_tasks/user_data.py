"""Loaders for a participant's own data: a folder of images by class, or a CSV table.

Errors name the file, folder, column or row at fault (:class:`DatasetError`), never a traceback
from deep inside a library.

Labels become class indices. Pass ``class_names`` (the task's classes) so that every participant
maps a class to the same index even if it lacks some classes; a label that is an integer and not
one of the names is taken as the index itself. Without ``class_names`` the classes are the sorted
folder names (images) or the sorted labels (tables, integers kept as they are).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from .errors import DatasetError

__all__ = ["IMAGE_SUFFIXES", "LabelledData", "load_csv_table", "load_image_folder"]

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg"})
MAX_PIXEL = 255.0


@dataclass(frozen=True)
class LabelledData:
    """Features (float32), labels (int64 class indices) and the names of the classes."""

    features: torch.Tensor
    labels: torch.Tensor
    class_names: tuple[str, ...]
    feature_names: tuple[str, ...] = ()


def load_image_folder(
    root: str | Path,
    *,
    grayscale: bool = True,
    size: tuple[int, int] | None = None,
    class_names: Sequence[str] | None = None,
) -> LabelledData:
    """Read ``root/<class_name>/*.png|jpg`` into ``(N, C, H, W)`` floats in ``[0, 1]``.

    ``size`` is ``(height, width)``; without it every image must already have the same size.
    """
    folder = Path(root)
    if not folder.is_dir():
        raise DatasetError(f"image folder {str(folder)!r} does not exist or is not a folder")
    class_dirs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        raise DatasetError(
            f"image folder {str(folder)!r} has no class folders; expected root/<class>/*.png"
        )
    names = tuple(class_names) if class_names is not None else tuple(d.name for d in class_dirs)
    images: list[np.ndarray] = []
    labels: list[int] = []
    for class_dir in class_dirs:
        label = _class_index(class_dir.name, names, where=f"folder {str(class_dir)!r}")
        files = sorted(p for p in class_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise DatasetError(f"class folder {str(class_dir)!r} has no .png or .jpg images")
        for file in files:
            images.append(_read_image(file, grayscale=grayscale, size=size))
            labels.append(label)
    shapes = {image.shape for image in images}
    if len(shapes) > 1:
        raise DatasetError(
            f"images in {str(folder)!r} have different sizes {sorted(shapes)}; pass size=(h, w)"
        )
    features = torch.tensor(np.stack(images), dtype=torch.float32)
    return LabelledData(features, torch.tensor(labels, dtype=torch.int64), names)


def _read_image(file: Path, *, grayscale: bool, size: tuple[int, int] | None) -> np.ndarray:
    try:
        with Image.open(file) as opened:
            image = opened.convert("L" if grayscale else "RGB")
    except (UnidentifiedImageError, OSError) as error:
        raise DatasetError(f"cannot read image {str(file)!r}: {error}") from error
    if size is not None:
        height, width = size
        image = image.resize((width, height), Image.Resampling.BILINEAR)
    pixels = np.asarray(image, dtype=np.float32) / MAX_PIXEL
    return pixels[None, :, :] if grayscale else pixels.transpose(2, 0, 1)


def load_csv_table(
    path: str | Path,
    *,
    label_column: str,
    class_names: Sequence[str] | None = None,
) -> LabelledData:
    """Read a CSV with a header row: ``label_column`` is the class, every other column a number."""
    file = Path(path)
    if not file.is_file():
        raise DatasetError(f"CSV file {str(file)!r} does not exist or is not a file")
    with file.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        columns = [name.strip() for name in reader.fieldnames or []]
        rows = [{key.strip(): value for key, value in row.items() if key} for row in reader]
    if label_column not in columns:
        raise DatasetError(
            f"CSV file {str(file)!r} has no label column {label_column!r}; "
            f"columns: {', '.join(columns) or '(none)'}"
        )
    feature_names = tuple(name for name in columns if name != label_column)
    if not feature_names:
        raise DatasetError(f"CSV file {str(file)!r} has no feature columns besides the label")
    if not rows:
        raise DatasetError(f"CSV file {str(file)!r} has a header but no rows")
    features = np.array(
        [_numeric_row(row, feature_names, file, line) for line, row in enumerate(rows, 2)],
        dtype=np.float32,
    )
    raw_labels = [(row.get(label_column) or "").strip() for row in rows]
    names = tuple(class_names) if class_names is not None else _label_names(raw_labels)
    labels = [
        _class_index(text, names, where=f"{str(file)!r} line {line}")
        for line, text in enumerate(raw_labels, 2)
    ]
    return LabelledData(
        torch.tensor(features),
        torch.tensor(labels, dtype=torch.int64),
        names,
        feature_names,
    )


def _numeric_row(
    row: dict[str, str | None], names: Iterable[str], file: Path, line: int
) -> list[float]:
    values = []
    for name in names:
        text = (row.get(name) or "").strip()
        try:
            values.append(float(text))
        except ValueError:
            raise DatasetError(
                f"column {name!r} of {str(file)!r} is not numeric: line {line} has {text!r}"
            ) from None
    return values


def _label_names(raw_labels: Sequence[str]) -> tuple[str, ...]:
    distinct = set(raw_labels)
    if all(_as_index(text) is not None for text in distinct):
        top = max(int(text) for text in distinct)
        return tuple(str(index) for index in range(top + 1))
    return tuple(sorted(distinct))


def _class_index(text: str, names: Sequence[str], *, where: str) -> int:
    if text in names:
        return names.index(text)
    index = _as_index(text)
    if index is not None and index < len(names):
        return index
    raise DatasetError(f"label {text!r} in {where} is not one of the classes {list(names)}")


def _as_index(text: str) -> int | None:
    return int(text) if text.isdigit() else None
