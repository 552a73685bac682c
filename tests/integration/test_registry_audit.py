"""The audit log in Postgres: security events recorded, a chain that verifies, appends that never
fork, a trigger that refuses edits, and verification naming the row edited behind its back.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import asyncpg
import pytest
from consortium_core.audit import AuditEntry, verify_chain
from support.registry import Registry, make_csr, running_registry

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def registry(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    with running_registry(postgres_url, tmp_path_factory.mktemp("registry")) as service:
        yield service


def all_entries(registry: Registry) -> list[dict]:
    entries: list[dict] = []
    with registry.admin() as admin:
        while page := admin.get(
            "/audit", params={"after_seq": entries[-1]["seq"] if entries else 0, "limit": 7}
        ).json():
            entries += page
    return entries


async def sql(registry: Registry, *statements: str) -> None:
    conn = await asyncpg.connect(registry.dsn)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def test_security_events_are_recorded(registry: Registry) -> None:
    participant_id, key_pem, cert_pem = registry.enroll_new("audited")
    with registry.client(cert_pem=cert_pem, key_pem=key_pem) as http:
        assert http.post("/certificates/renew", json={"csr_pem": make_csr()[1]}).status_code == 201
    with registry.client() as http:
        failed = http.post("/auth/login", json={"username": "admin", "password": "wrong-guess"})
    assert failed.status_code == 401 and failed.headers["www-authenticate"] == "Bearer"
    with registry.admin() as admin:
        admin.post(f"/participants/{participant_id}/revoke", json={"reason": "audit test"})
    entries = all_entries(registry)
    kinds = [e["kind"] for e in entries]
    for kind in (
        "operator_created",
        "operator_login_succeeded",
        "operator_login_failed",
        "participant_created",
        "enrollment_token_created",
        "participant_enrolled",
        "certificate_renewed",
        "participant_revoked",
    ):
        assert kind in kinds, kind
    failure = next(e for e in entries if e["kind"] == "operator_login_failed")
    assert failure["actor"] == "operator:admin" and "wrong-guess" not in json.dumps(failure)
    enrolled = next(e for e in entries if e["kind"] == "participant_enrolled")
    assert enrolled["actor"] == f"participant:{participant_id}"
    revoked = next(e for e in entries if e["kind"] == "participant_revoked")
    assert revoked["data"]["reason"] == "audit test" and len(revoked["data"]["certificates"]) == 2
    assert [e["seq"] for e in entries] == list(range(1, len(entries) + 1))


def test_concurrent_appends_never_fork_the_chain(registry: Registry) -> None:
    def bad_login(i: int) -> int:
        with registry.client() as http:
            body = {"username": f"nobody-{i}", "password": "x"}
            return http.post("/auth/login", json=body).status_code

    with ThreadPoolExecutor(16) as pool:
        assert set(pool.map(bad_login, range(32))) == {401}
    with registry.admin() as admin:
        result = admin.get("/audit/verify").json()
    assert result["ok"] and result["first_broken_seq"] is None
    assert result["checked"] == len(all_entries(registry))


def test_the_export_verifies_offline(registry: Registry) -> None:
    with registry.admin() as admin:
        response = admin.get("/audit/export")
    assert response.headers["content-type"].startswith("application/x-ndjson")
    lines = response.text.splitlines()
    entries = [AuditEntry.from_mapping(json.loads(line)) for line in lines]
    assert verify_chain(entries).ok and len(entries) == len(all_entries(registry))


def test_the_table_refuses_update_delete_and_truncate(registry: Registry) -> None:
    for statement in (
        "UPDATE audit_log SET actor = 'mallory' WHERE seq = 1",
        "DELETE FROM audit_log WHERE seq = 1",
        "TRUNCATE audit_log",
    ):
        with pytest.raises(asyncpg.PostgresError, match="append-only"):
            asyncio.run(sql(registry, statement))


def test_a_jobs_entries_are_read_alone(registry: Registry) -> None:
    """``?job_id=`` gives exactly the entries whose data names that job, in order and paged
    (the console's job page), from an index rather than a scan of the whole log."""
    from consortium_registry.audit_log import append_audit
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

    async def append() -> None:
        engine = create_async_engine(registry.dsn.replace("postgresql://", "postgresql+asyncpg://"))
        try:
            async with async_sessionmaker(engine)() as session:
                for i in range(6):
                    job = "job-a" if i % 2 == 0 else "job-b"
                    await append_audit(
                        session, "parameter_exchange", "test", {"job_id": job, "i": i}
                    )
                await append_audit(session, "job_created", "test", ["not", "an", "object"])
                await session.commit()
        finally:
            await engine.dispose()

    asyncio.run(append())
    with registry.admin() as admin:
        trail = admin.get("/audit", params={"job_id": "job-a", "limit": 2}).json()
        assert [e["data"]["i"] for e in trail] == [0, 2]
        rest = admin.get("/audit", params={"job_id": "job-a", "after_seq": trail[-1]["seq"]})
        assert [e["data"]["i"] for e in rest.json()] == [4]
        assert admin.get("/audit", params={"job_id": "job-c"}).json() == []
        assert admin.get("/audit/verify").json()["ok"]

    async def plan() -> str:
        conn = await asyncpg.connect(registry.dsn)
        try:
            await conn.execute("SET enable_seqscan = off")
            rows = await conn.fetch(
                "EXPLAIN SELECT * FROM audit_log WHERE data->>'job_id' = 'job-a' ORDER BY seq"
            )
        finally:
            await conn.close()
        return "\n".join(r[0] for r in rows)

    assert "ix_audit_log_job_id" in asyncio.run(plan())


def test_editing_a_row_behind_the_triggers_back_is_named(registry: Registry) -> None:
    """Runs last in this module: it leaves the chain broken."""
    with registry.admin() as admin:
        assert admin.get("/audit/verify").json()["ok"]
    target = next(e for e in all_entries(registry) if e["kind"] == "participant_enrolled")
    forged = json.dumps({**target["data"], "participant_id": "someone-else"})
    asyncio.run(
        sql(
            registry,
            "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update_delete",
            f"UPDATE audit_log SET data = '{forged}'::json WHERE seq = {target['seq']}",
            "ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update_delete",
        )
    )
    with registry.admin() as admin:
        result = admin.get("/audit/verify").json()
    assert result["ok"] is False
    assert result["first_broken_seq"] == target["seq"]
    assert "altered" in result["reason"]
    assert result["checked"] == target["seq"]


def test_a_published_record_delivered_twice_is_chained_once(registry: Registry) -> None:
    """The audit consumer may get a record again (a crash between commit and ack): its id is
    kept with the entry, and the second delivery adds nothing."""
    from consortium_registry.audit_log import append_audit
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

    async def deliver_twice() -> list[object]:
        engine = create_async_engine(registry.dsn.replace("postgresql://", "postgresql+asyncpg://"))
        added = []
        try:
            for _ in range(2):
                async with async_sessionmaker(engine)() as session:
                    row = await append_audit(
                        session, "parameter_exchange", "test", {"twice": 1}, record_id="rec-1"
                    )
                    await session.commit()
                    added.append(row)
        finally:
            await engine.dispose()
        return added

    first, second = asyncio.run(deliver_twice())
    assert first is not None and second is None
    entries = [e for e in all_entries(registry) if e["data"] == {"twice": 1}]
    assert len(entries) == 1
