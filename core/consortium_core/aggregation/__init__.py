"""Fast aggregation kernels over a stacked (K, N) float32 update matrix, and Flower strategies
that use them.

K clients' updates are stacked once into the rows of one matrix (:func:`stack_updates`); every
rule is then one pass (or a few) over that matrix: FedAvg is a BLAS gemv, the median, trimmed
mean and Bulyan run a pruned sorting network on cache-sized column blocks, Krum a blocked Gram
matrix. The strategies in :mod:`.strategies` are Flower's own with only the array aggregation
replaced.

>>> import numpy as np
>>> matrix, layout = stack_updates(updates=[[np.ones(3, np.float32)], [np.zeros(3, np.float32)]])
>>> coordinate_median(updates=matrix).tolist()
[0.5, 0.5, 0.5]
"""

from __future__ import annotations

from .errors import (
    AggregationInputError,
    InvalidParameterError,
    ShapeMismatchError,
    TooFewUpdatesError,
)
from .kernels import (
    bulyan,
    bulyan_from_selected,
    coordinate_median,
    krum,
    krum_scores,
    multi_krum,
    multi_krum_select,
    pairwise_squared_distances,
    scores_from_distances,
    trimmed_mean,
    weighted_mean,
)
from .stacking import ArraySpec, Layout, array_view, split_flat, stack_updates

__all__ = [
    "AggregationInputError",
    "ArraySpec",
    "InvalidParameterError",
    "Layout",
    "ShapeMismatchError",
    "TooFewUpdatesError",
    "array_view",
    "bulyan",
    "bulyan_from_selected",
    "coordinate_median",
    "krum",
    "krum_scores",
    "multi_krum",
    "multi_krum_select",
    "pairwise_squared_distances",
    "scores_from_distances",
    "split_flat",
    "stack_updates",
    "trimmed_mean",
    "weighted_mean",
]
