"""A he-ckks job with the real digits apps, in one process: the accuracy of plaintext FedAvg
within 0.5 points, no secret key ever reaching the coordinator's side, a fresh key when a key
holder leaves, the key shared with a newcomer, and clear refusals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import tenseal as ts
from consortium_core.homomorphic import KeyExchangeError
from consortium_tasks.homomorphic.identities import make_identities
from consortium_tasks.homomorphic.protocol import EncryptedModel
from consortium_tasks.simulation import FIRST_NODE_ID, InProcessGrid, simulate
from flwr.app import ArrayRecord, ConfigRecord, Message

HE = {"aggregation": "he-ckks"}


def _identities(tmp_path: Path, count: int) -> list[dict[str, str]]:
    return make_identities(tmp_path / "identities", [f"hospital-{i}" for i in range(count)])


def _final_accuracy(grid: InProcessGrid) -> float:
    return grid.round_metrics[max(grid.round_metrics)]["accuracy"]


def test_he_ckks_reaches_plaintext_fedavg_accuracy_on_digits(tmp_path: Path) -> None:
    """CKKS' error (about 1e-7 per weight) nudges the training path, which then flips a
    borderline test image or two of the 360 either way in some rounds, differently in every run
    (encryption is randomised). So the 0.5-point goal is checked on what an he-ckks job reaches
    on average: the last three rounds of three jobs; every single round stays within 2 points,
    which a wrong aggregate (a weight off, a part missing) does not."""
    rounds, runs = 10, 3
    config = {"num-server-rounds": rounds}
    plain = simulate("digits-cnn", num_partitions=5, run_config=config).round_metrics
    assert plain[rounds]["accuracy"] > 0.95
    last_rounds = range(rounds - 2, rounds + 1)
    differences = []
    for run in range(runs):
        identities = _identities(tmp_path / f"run-{run}", 5)
        encrypted = simulate(
            "digits-cnn",
            num_partitions=5,
            run_config={**config, **HE},
            per_node_options=identities,
        ).round_metrics
        for r in range(1, rounds + 1):
            difference = encrypted[r]["accuracy"] - plain[r]["accuracy"]
            assert abs(difference) <= 0.02, (run, r, encrypted, plain)
            if r in last_rounds:
                differences.append(difference)
    assert abs(sum(differences) / len(differences)) <= 0.005, differences


class _Watching(InProcessGrid):
    """An InProcessGrid that inspects everything the ServerApp receives and keeps the
    encrypted global model of every round; ``online`` limits the nodes per round."""

    def __init__(self, *args: Any, online: dict[int, list[int]] | None = None, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.online = online or {}
        self.round = 1
        self.models: dict[int, EncryptedModel] = {}
        self.received_values = 0

    def get_node_ids(self):
        every = list(super().get_node_ids())
        return [every[i] for i in self.online.get(self.round, range(len(every)))]

    def pull_messages(self, message_ids):
        replies = list(super().pull_messages(message_ids))
        for reply in replies:
            if reply.has_content():
                for record in reply.content.config_records.values():
                    _refuse_secret_keys(record)
                    self.received_values += 1
        return replies

    def on_round_end(self, server_round: int, arrays: ArrayRecord, metrics) -> None:
        super().on_round_end(server_round, arrays, metrics)
        if server_round > 0:
            self.models[server_round] = EncryptedModel.from_arrays(arrays)
        self.round = server_round + 1


def _refuse_secret_keys(record: ConfigRecord) -> None:
    """Fail if any bytes in ``record`` load as a CKKS context holding a secret key."""
    for value in record.values():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, bytes) and len(item) > 1000:
                try:
                    context = ts.context_from(item)
                except ValueError:
                    continue  # ciphertexts, sealed keys: not a context
                assert not context.is_private(), "a secret key reached the coordinator's side"


def _grid(tmp_path: Path, count: int, config: dict, kind: type | None = None, **kw: Any) -> Any:
    """A watching grid of ``count`` digits-cnn participants with identities, iid data."""
    from consortium_tasks.registry import get_task, load_app

    identities = _identities(tmp_path, count)
    nodes = [
        {"partition-id": i, "num-partitions": count, "partition": "iid", "seed": 1, **identities[i]}
        for i in range(count)
    ]
    return (kind or _Watching)(load_app(get_task("digits-cnn").client_app), nodes, config, **kw)


def _watched_run(
    tmp_path: Path, count: int, rounds: int, extra: dict | None = None, **kw: Any
) -> tuple[_Watching, list]:
    from flwr.app import RecordDict

    config = {"min-participants": 2, "num-server-rounds": rounds, **HE, **(extra or {})}
    grid = _grid(tmp_path, count, config, **kw)
    _run_server(grid, RecordDict(), config)
    return grid, [grid._contexts[FIRST_NODE_ID + i] for i in range(count)]


def _keys_held(context) -> list[str]:
    return list(context.state.config_records["he-ckks-keys"]["order"])


def test_no_secret_key_reaches_the_coordinator_and_checkpoints_are_ciphertexts(
    tmp_path: Path,
) -> None:
    grid, contexts = _watched_run(tmp_path, 3, 2)
    assert grid.received_values > 0
    assert set(grid.models) == {1, 2}
    key = grid.models[2].key_id
    assert all(_keys_held(c)[-1] == key for c in contexts)  # every participant holds it


def test_a_key_holder_leaving_gets_a_fresh_key_dealt_and_a_newcomer_gets_the_key(
    tmp_path: Path,
) -> None:
    # round 1: nodes 0,1,2; round 2: node 2 gone (fresh key); round 3: node 3 joins (shared)
    online = {1: [0, 1, 2], 2: [0, 1], 3: [0, 1, 3]}
    grid, contexts = _watched_run(tmp_path, 4, 3, online=online)
    first, second, third = (grid.models[r].key_id for r in (1, 2, 3))
    assert first != second, "no fresh key after a key holder left"
    assert second == third, "a newcomer must not force a fresh key"
    assert second not in _keys_held(contexts[2]), "the one who left got the new key"
    assert second in _keys_held(contexts[3])
    assert grid.round_metrics[3]["accuracy"] > 0.5


def test_no_fresh_key_when_the_job_says_so(tmp_path: Path) -> None:
    grid, contexts = _watched_run(
        tmp_path, 3, 2, extra={"he-rekey-on-leave": False}, online={1: [0, 1, 2], 2: [0, 1]}
    )
    assert grid.models[1].key_id == grid.models[2].key_id
    assert grid.models[2].key_id in _keys_held(contexts[2])  # the one who left still holds it


def test_a_participant_without_an_identity_is_told_what_to_do() -> None:
    with pytest.raises(KeyExchangeError, match="needs participants with an enrolled identity"):
        simulate("digits-cnn", num_partitions=2, run_config={**HE, "num-server-rounds": 1})


def test_the_job_fails_with_the_participants_reasons_when_none_can_take_the_key() -> None:
    from consortium_tasks.homomorphic.server import HomomorphicRoundError
    from consortium_tasks.registry import get_task, load_app
    from flwr.app import Error

    app = load_app(get_task("digits-cnn").client_app)

    def answering_errors(message: Message, context: Any) -> Message:
        """The runtime's behaviour: a ClientApp that raises gets an error reply."""
        try:
            return app(message, context)
        except Exception as exc:
            return Message(Error(code=0, reason=f"{type(exc).__name__}: {exc}"), reply_to=message)

    with pytest.raises(HomomorphicRoundError, match="enrolled identity"):
        simulate(
            "digits-cnn",
            num_partitions=2,
            run_config={**HE, "num-server-rounds": 1},
            client_app=answering_errors,  # type: ignore[arg-type]
        )


def test_a_key_dealt_by_someone_outside_the_federation_is_refused(tmp_path: Path) -> None:
    from consortium_tasks.homomorphic.participant import answer_key_setup
    from flwr.app import Context, RecordDict

    ours = _identities(tmp_path / "ours", 2)
    theirs = make_identities(tmp_path / "theirs", ["mallory"])  # another CA
    config = {**HE}

    def context(identity: dict[str, str]) -> Context:
        return Context(1, 1, {**identity, "job-id": "j1"}, RecordDict(), config)

    def ask(ctx: Context, **record: object) -> Message:
        from consortium_tasks.simulation import act_as_server

        act_as_server(run_id=1)
        message = Message(
            RecordDict({"he-keys": ConfigRecord(record)}),
            dst_node_id=1,
            message_type="query.he_keys",
        )
        from flwr.supercore.task_identity import TaskIdentity

        TaskIdentity.node_id = 1
        return answer_key_setup(message, ctx)

    victim = context(ours[0])
    certificate = ask(victim, stage="identify").content["he-keys"]["certificate"]
    forged = ask(context(theirs[0]), stage="deal", fresh=True, recipients=[certificate])
    answer = forged.content["he-keys"]
    # mallory's CA did not issue the victim's certificate, so mallory refused to seal for it;
    # and a key sealed by mallory would be refused by the victim, whose CA did not issue hers
    assert answer["refused"][0]
    with pytest.raises(KeyExchangeError, match="not issued by the federation's CA"):
        ask(
            victim,
            stage="install",
            **{
                "key-id": answer["key-id"],
                "sealed": b"x" * 200,
                "signature": answer["signature"],
                "dealer-certificate": answer["dealer-certificate"],
            },
        )


class _Killed(Exception):
    """The coordinator's process dies (SIGKILL) right after a round is stored."""


class _DiesAfter(_Watching):
    die_after: int | None = None

    def on_round_end(self, server_round: int, arrays: ArrayRecord, metrics) -> None:
        super().on_round_end(server_round, arrays, metrics)
        if server_round == self.die_after:
            raise _Killed


def _run_server(grid: InProcessGrid, state, config: dict) -> None:
    """One coordinator process's ServerApp run (nothing kept in memory between two)."""
    from consortium_tasks.registry import get_task, load_app
    from consortium_tasks.simulation import act_as_server
    from flwr.app import Context
    from flwr.common.constant import SUPERLINK_NODE_ID

    act_as_server(run_id=grid.run.run_id)
    server = load_app(get_task("digits-cnn").server_app)
    server(grid, Context(grid.run.run_id, SUPERLINK_NODE_ID, {}, state, config))


def _dying_grid(tmp_path: Path, config: dict) -> _DiesAfter:
    return _grid(tmp_path, 3, config, kind=_DiesAfter)


def test_a_he_ckks_job_resumes_after_a_coordinator_restart(tmp_path: Path) -> None:
    """The new coordinator knows neither the public key nor who holds it: a participant still
    holding the checkpoint's key deals a fresh one and re-encrypts the model under it, and the
    job goes on with its own round numbers, no secret key reaching the coordinator."""
    from consortium_core.resume import set_resume_point
    from flwr.app import RecordDict

    config = {"min-participants": 2, "num-server-rounds": 4, **HE}
    grid = _dying_grid(tmp_path, config)
    grid.die_after = 2
    with pytest.raises(_Killed):
        _run_server(grid, RecordDict(), config)
    checkpoint = grid.models[2]  # what the coordinator stored, ciphertexts only
    grid.die_after = None
    state = RecordDict()
    set_resume_point(state, 2, checkpoint.to_arrays())
    _run_server(grid, state, config)  # the participants' clients kept running: same contexts
    assert sorted(grid.round_metrics) == [0, 1, 2, 3, 4]
    assert grid.models[3].key_id != checkpoint.key_id  # dealt afresh by a holder of the old
    assert grid.models[3].key_id == grid.models[4].key_id
    assert grid.round_metrics[4]["accuracy"] > 0.8
    assert grid.round_metrics[4]["accuracy"] >= grid.round_metrics[2]["accuracy"] - 0.02


def test_a_resumed_he_ckks_job_whose_key_holders_all_restarted_fails_with_the_reason(
    tmp_path: Path,
) -> None:
    from consortium_core.resume import set_resume_point
    from consortium_tasks.homomorphic.server import HomomorphicRoundError
    from flwr.app import RecordDict

    config = {"min-participants": 2, "num-server-rounds": 3, **HE}
    grid = _dying_grid(tmp_path / "first", config)
    grid.die_after = 1
    with pytest.raises(_Killed):
        _run_server(grid, RecordDict(), config)
    state = RecordDict()
    set_resume_point(state, 1, grid.models[1].to_arrays())
    restarted = _dying_grid(tmp_path / "second", config)  # every client restarted: no keys
    with pytest.raises(HomomorphicRoundError, match="no participant of this round holds"):
        _run_server(restarted, state, config)
