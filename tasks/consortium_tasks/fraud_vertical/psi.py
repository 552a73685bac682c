"""Private set intersection between two parties, with OpenMined's ECDH-based ``openmined-psi``.

One party, the *client*, blinds its IDs with a secret key and sends them (:func:`psi_request`);
the other, the *server*, blinds them again with its own key and sends them back together with
its own IDs blinded once (:func:`psi_serve`); the client removes its blinding and matches
(:func:`psi_finish`). The client learns which of its own IDs the server holds and the size of
the server's set; the server learns the size of the client's set and nothing else. Whoever
relays the messages (the coordinator) sees only blinded points.

The server's set is sent as a plain list of blinded points (``DataStructure.RAW``), not a
Bloom filter or Golomb-coded set: those are smaller but can report false members, and two
parties that disagree on a single row would misalign every row after it.

>>> key, request = psi_request(["a", "b", "c"])
>>> setup, response = psi_serve(["b", "c", "d"], request, client_size=3)
>>> psi_finish(key, ["a", "b", "c"], setup, response)
['b', 'c']
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import TaskError

__all__ = ["PSI_FALSE_POSITIVE_RATE", "psi_finish", "psi_request", "psi_serve"]

PSI_FALSE_POSITIVE_RATE = 1e-9  # ignored by the RAW structure, which has none


def _psi():
    try:
        import private_set_intersection.python as psi
    except ImportError as exc:  # pragma: no cover - make install installs it
        raise TaskError(
            "private set intersection needs the openmined-psi package "
            "(pip install --no-deps openmined-psi==2.0.6; see docs/vertical.md)"
        ) from exc
    return psi


def psi_request(items: Sequence[str]) -> tuple[bytes, bytes]:
    """Blind ``items`` with a new secret key: ``(key, request)``; the key never leaves."""
    psi = _psi()
    client = psi.client.CreateWithNewKey(True)
    return bytes(client.GetPrivateKeyBytes()), client.CreateRequest(list(items)).SerializeToString()


def psi_serve(items: Sequence[str], request: bytes, *, client_size: int) -> tuple[bytes, bytes]:
    """Answer a client's request with this party's ``items``: ``(setup, response)``."""
    psi = _psi()
    server = psi.server.CreateWithNewKey(True)
    parsed = psi.Request()
    try:
        parsed.ParseFromString(request)
        response = server.ProcessRequest(parsed)
    except Exception as exc:  # a malformed request from the wire
        raise TaskError(f"malformed private set intersection request: {exc}") from exc
    setup = server.CreateSetupMessage(
        PSI_FALSE_POSITIVE_RATE, max(client_size, 1), list(items), psi.DataStructure.RAW
    )
    return setup.SerializeToString(), response.SerializeToString()


def psi_finish(key: bytes, items: Sequence[str], setup: bytes, response: bytes) -> list[str]:
    """The items of this (client) party that the server holds, in this party's order."""
    psi = _psi()
    client = psi.client.CreateFromKey(key, True)
    parsed_setup, parsed_response = psi.ServerSetup(), psi.Response()
    try:
        parsed_setup.ParseFromString(setup)
        parsed_response.ParseFromString(response)
        found = client.GetIntersection(parsed_setup, parsed_response)
    except Exception as exc:  # a malformed answer from the wire
        raise TaskError(f"malformed private set intersection answer: {exc}") from exc
    return [items[i] for i in sorted(found)]
