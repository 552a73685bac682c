"""Update validation: what the Grid refuses before aggregation."""

from __future__ import annotations

import numpy as np
import pytest
from consortium_core.errors import InvalidUpdateError
from consortium_core.validation import check_update
from flwr.app import Array, ArrayRecord

SENT = ArrayRecord({"w": Array(np.zeros((2, 3), np.float32)), "n": Array(np.zeros(2, np.int64))})


def _rec(**arrays: np.ndarray) -> ArrayRecord:
    return ArrayRecord({k: Array(v) for k, v in arrays.items()})


def test_sound_update_passes() -> None:
    check_update(sent=SENT, received=_rec(w=np.ones((2, 3), np.float32), n=np.ones(2, np.int64)))


@pytest.mark.parametrize(
    ("received", "message"),
    [
        (_rec(w=np.ones((3, 2), np.float32), n=np.ones(2, np.int64)), "shape"),
        (_rec(w=np.ones((2, 3), np.float64), n=np.ones(2, np.int64)), "dtype"),
        (_rec(w=np.full((2, 3), np.nan, np.float32), n=np.ones(2, np.int64)), "NaN or Inf"),
        (_rec(w=np.full((2, 3), np.inf, np.float32), n=np.ones(2, np.int64)), "NaN or Inf"),
        (_rec(w=np.ones((2, 3), np.float32)), "keys differ"),
        (_rec(w=np.ones((2, 3), np.float32), n=np.ones(2, np.int64), x=np.ones(1)), "keys"),
    ],
    ids=["shape", "dtype", "nan", "inf", "missing", "extra"],
)
def test_unsound_updates_are_refused(received: ArrayRecord, message: str) -> None:
    with pytest.raises(InvalidUpdateError, match=message):
        check_update(sent=SENT, received=received)


def test_lying_header_is_refused() -> None:
    bad = ArrayRecord(
        {
            "w": Array(
                dtype="float32",
                shape=(2, 3),
                stype="numpy.ndarray",
                data=Array(np.ones(4, np.float32)).data,
            ),
            "n": Array(np.ones(2, np.int64)),
        }
    )
    with pytest.raises(InvalidUpdateError, match="declared shape"):
        check_update(sent=SENT, received=bad)
