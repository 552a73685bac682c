"""Private set intersection (openmined-psi) equals the plain intersection, and refuses garbage."""

from __future__ import annotations

import numpy as np
import pytest
from consortium_tasks.errors import TaskError
from consortium_tasks.fraud_vertical.data import generate_population, holds
from consortium_tasks.fraud_vertical.psi import psi_finish, psi_request, psi_serve


def _intersect(client: list[str], server: list[str]) -> list[str]:
    key, request = psi_request(client)
    setup, response = psi_serve(server, request, client_size=len(client))
    return psi_finish(key, client, setup, response)


@pytest.mark.parametrize(("overlap", "seed"), [(0.0, 1), (0.3, 2), (1.0, 3)])
def test_psi_equals_the_plain_intersection_on_generated_ids(overlap: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    pool = [f"cust-{k:07d}" for k in rng.permutation(10**6)[:3000]]
    shared = pool[: int(1000 * overlap)]
    client = shared + pool[1000:2000][: 1000 - len(shared)]
    server = shared + pool[2000:3000][: 1200 - len(shared)]
    rng.shuffle(client)
    rng.shuffle(server)
    found = _intersect(client, server)
    assert sorted(found) == sorted(set(client) & set(server))
    assert len(found) == len(shared)


def test_psi_on_the_scenarios_parties_finds_exactly_the_shared_customers() -> None:
    population = generate_population(3000, seed=11)
    bank = population.ids[holds(population, "bank")].tolist()
    shop = population.ids[holds(population, "shop")].tolist()
    assert 0 < len(set(bank) & set(shop)) < min(len(bank), len(shop))  # partial overlap
    assert set(_intersect(bank, shop)) == set(bank) & set(shop)


def test_the_server_learns_nothing_it_can_read_and_messages_hold_no_id() -> None:
    client = [f"secret-customer-{i}" for i in range(50)]
    key, request = psi_request(client)
    setup, response = psi_serve(["secret-customer-3", "other"], request, client_size=50)
    for wire in (request, setup, response):
        assert b"secret-customer" not in wire and b"other" not in wire
    assert psi_finish(key, client, setup, response) == ["secret-customer-3"]


def test_malformed_psi_messages_get_clear_errors() -> None:
    key, _request = psi_request(["a", "b"])
    with pytest.raises(TaskError, match="malformed private set intersection request"):
        psi_serve(["a"], b"\x00garbage", client_size=2)
    with pytest.raises(TaskError, match="malformed private set intersection answer"):
        psi_finish(key, ["a", "b"], b"\x00garbage", b"\x01")
