"""A configured admin password is authoritative: a database that outlived its password file
still gets an admin one can log in as, and the reset is audited."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.registry import Registry, fresh_database

pytestmark = pytest.mark.integration


def test_configured_admin_password_recovers_access(tmp_path: Path, postgres_url: str) -> None:
    with fresh_database(postgres_url) as database_url:
        (tmp_path / "a").mkdir()
        (tmp_path / "b").mkdir()
        first = Registry(tmp_path / "a", database_url=database_url)
        try:
            first.wait_healthy()
            assert first.password_file.exists()
        finally:
            first.stop()
        new_password = "configured-admin-password-42"
        second = Registry(
            tmp_path / "b",
            database_url=database_url,
            pki_dir=first.pki_dir,
            admin_password=new_password,
        )
        try:
            second.wait_healthy()
            assert not second.password_file.exists()  # nothing new was generated
            token = second.login("admin", new_password)
            with second.client(token=token) as admin:
                kinds = [e["kind"] for e in admin.get("/audit").json()]
            assert "operator_password_reset" in kinds
        finally:
            second.stop()
