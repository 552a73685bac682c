"""The fraud scenario's data: a generated population of customers, split by columns between a
bank and a shop that hold only partly the same customers.

Ground truth (documented in docs/vertical.md, fixed here): each customer has

- bank columns: ``log_amount`` (mean card payment, log), ``tx_per_week``, ``night_share``,
  ``foreign_share``, ``account_age_years``, ``chargebacks_last_year``;
- shop columns, catalogue: ``electronics_share``, ``gift_card_share``, ``orders_per_month``;
  delivery: ``address_mismatch`` (billing differs from delivery), ``days_since_address_change``,
  ``express_share``;

and is a fraud case with probability ``sigmoid(logit)``, where ``logit`` (:func:`fraud_logit`)
adds evidence from both sides and two interactions across them (a foreign card with a
mismatched address; large payments with express delivery). Neither party alone sees enough of
it; that is the point of the vertical model.

Parties (node config ``party``): ``bank`` holds the bank columns and the label (it learns of
fraud through chargebacks); ``shop`` holds the catalogue and delivery columns; ``catalog`` and
``delivery`` split the shop's columns for three-party runs. Each party holds a customer with its
own probability (bank 0.75, the others 0.6), drawn independently, so IDs overlap in part.
A party's own table is a CSV file instead (``data-path``, ``id-column``, ``label-column``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from ..errors import DatasetError

__all__ = [
    "LABEL_HOLDER",
    "PARTY_COLUMNS",
    "PartyTable",
    "Population",
    "fraud_logit",
    "generate_population",
    "party_table",
    "standardize",
]

BANK_COLUMNS = (
    "log_amount",
    "tx_per_week",
    "night_share",
    "foreign_share",
    "account_age_years",
    "chargebacks_last_year",
)
CATALOG_COLUMNS = ("electronics_share", "gift_card_share", "orders_per_month")
DELIVERY_COLUMNS = ("address_mismatch", "days_since_address_change", "express_share")
PARTY_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "bank": BANK_COLUMNS,
    "shop": CATALOG_COLUMNS + DELIVERY_COLUMNS,
    "catalog": CATALOG_COLUMNS,
    "delivery": DELIVERY_COLUMNS,
}
LABEL_HOLDER = "bank"
HOLD_PROBABILITY = {"bank": 0.75, "shop": 0.6, "catalog": 0.6, "delivery": 0.6}
DEFAULT_CUSTOMERS = 20_000
DEFAULT_SEED = 7


@dataclass(frozen=True)
class Population:
    """Every generated customer: IDs, every column by name, and the fraud label."""

    ids: np.ndarray  # str, one per customer
    columns: Mapping[str, np.ndarray]
    labels: np.ndarray  # 0/1
    seed: int

    def features(self, names: tuple[str, ...]) -> np.ndarray:
        """The named columns as a float32 matrix, one row per customer."""
        return np.stack([self.columns[n] for n in names], axis=1).astype(np.float32)


@dataclass(frozen=True)
class PartyTable:
    """What one party holds: its customers' IDs, its columns, and the labels if it has them."""

    party: str
    ids: list[str]
    column_names: tuple[str, ...]
    features: np.ndarray  # float32, standardized by the party on its own table
    labels: np.ndarray | None

    @property
    def is_label_holder(self) -> bool:
        return self.labels is not None


def fraud_logit(columns: Mapping[str, np.ndarray]) -> np.ndarray:
    """The ground truth's log-odds of fraud for each customer (see the module's text)."""
    amount = (columns["log_amount"] - 3.5) / 0.8
    return (
        -5.0
        + 0.6 * amount
        + 2.5 * columns["night_share"]
        + 3.0 * columns["foreign_share"]
        - 0.12 * np.minimum(columns["account_age_years"], 10.0)
        + 0.4 * columns["chargebacks_last_year"]
        + 3.0 * columns["electronics_share"]
        + 7.0 * columns["gift_card_share"]
        + 1.2 * columns["address_mismatch"]
        + 1.0 * (columns["days_since_address_change"] < 30)
        + 2.0 * columns["address_mismatch"] * (columns["foreign_share"] > 0.1)
        + 3.0 * np.maximum(amount, 0.0) * columns["express_share"]
    )


@lru_cache(maxsize=4)
def generate_population(customers: int = DEFAULT_CUSTOMERS, seed: int = DEFAULT_SEED) -> Population:
    """``customers`` customers drawn from the scenario's distributions (same seed, same data)."""
    if customers < 100:
        raise DatasetError(f"the fraud population needs at least 100 customers, got {customers}")
    rng = np.random.default_rng(seed)
    n = customers
    columns = {
        "log_amount": rng.normal(3.5, 0.8, n),
        "tx_per_week": rng.gamma(2.0, 3.0, n),
        "night_share": rng.beta(1.5, 8.0, n),
        "foreign_share": rng.beta(1.0, 12.0, n),
        "account_age_years": rng.exponential(6.0, n),
        "chargebacks_last_year": rng.poisson(0.15, n).astype(float),
        "electronics_share": rng.beta(2.0, 5.0, n),
        "gift_card_share": rng.beta(0.8, 12.0, n),
        "orders_per_month": rng.gamma(2.0, 1.5, n),
        "address_mismatch": (rng.random(n) < 0.15).astype(float),
        "days_since_address_change": rng.exponential(300.0, n),
        "express_share": rng.beta(2.0, 6.0, n),
    }
    labels = (rng.random(n) < 1.0 / (1.0 + np.exp(-fraud_logit(columns)))).astype(np.int64)
    numbers = rng.permutation(10 * n)[:n]  # IDs that say nothing about order or membership
    ids = np.array([f"cust-{k:07d}" for k in numbers])
    return Population(ids=ids, columns=columns, labels=labels, seed=seed)


def holds(population: Population, party: str) -> np.ndarray:
    """Which customers ``party`` holds (a boolean mask, drawn from the party's own stream)."""
    if party not in HOLD_PROBABILITY:
        raise DatasetError(f"unknown party {party!r}; known: {', '.join(sorted(PARTY_COLUMNS))}")
    stream = np.random.default_rng([population.seed, *party.encode()])
    return stream.random(len(population.ids)) < HOLD_PROBABILITY[party]


def standardize(features: np.ndarray) -> np.ndarray:
    mean = features.mean(axis=0)
    std = features.std(axis=0)
    return ((features - mean) / np.where(std > 0, std, 1.0)).astype(np.float32)


def party_table(node_config: Mapping[str, Any]) -> PartyTable:
    """The table of the party this node config names (generated, or its own CSV file)."""
    if "data-path" in node_config:
        from .user_table import load_party_csv

        return load_party_csv(node_config)
    party = str(node_config.get("party", ""))
    if party not in PARTY_COLUMNS:
        raise DatasetError(
            f"node config party={party!r}: name one of {', '.join(sorted(PARTY_COLUMNS))} "
            "(or give data-path with your own table)"
        )
    population = generate_population(
        int(node_config.get("customers", DEFAULT_CUSTOMERS)),
        int(node_config.get("population-seed", DEFAULT_SEED)),
    )
    mask = holds(population, party)
    names = PARTY_COLUMNS[party]
    return PartyTable(
        party=party,
        ids=population.ids[mask].tolist(),
        column_names=names,
        features=standardize(population.features(names)[mask]),
        labels=population.labels[mask] if party == LABEL_HOLDER else None,
    )
