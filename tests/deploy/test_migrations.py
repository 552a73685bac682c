"""Alembic migrations run once per install and upgrade, in a hook Job, before pods that need
the new schema; the services no longer migrate at start-up and wait for the Job instead."""

from __future__ import annotations

import base64
import importlib.util
import re
from types import ModuleType

import pytest
from helm_python import HelmError

SERVICES_WITH_TABLES = {"coordinator", "registry", "metrics", "contribution"}


def _script(charts, name: str) -> ModuleType:
    path = charts.platform_dir / "files" / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"chart_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _env(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container.get("env", [])}


@pytest.mark.parametrize("is_install", [True, False])
def test_the_migrations_job_is_a_pre_install_and_pre_upgrade_hook(charts, is_install) -> None:
    rendered = charts.platform_profile("default", is_install=is_install)
    (job,) = rendered.of_kind("Job")
    hooks = job["metadata"]["annotations"]
    assert hooks["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert hooks["helm.sh/hook-delete-policy"] == "before-hook-creation"
    # the database Secret is a hook too, created before the Job (a lower weight)
    secret = rendered.named("Secret", "demo-consortium-database")
    assert secret["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert int(secret["metadata"]["annotations"]["helm.sh/hook-weight"]) < int(
        hooks["helm.sh/hook-weight"]
    )
    spec = job["spec"]["template"]["spec"]
    assert spec["restartPolicy"] == "Never" and job["spec"]["activeDeadlineSeconds"] > 0
    (container,) = spec["containers"]
    gateway = rendered.component("Deployment", "gateway")["spec"]["template"]["spec"]
    assert container["image"] == gateway["containers"][0]["image"]  # it holds every service
    assert container["command"][:2] == ["python", "-c"]
    script = charts.platform_dir / "files" / "scripts" / "migrate.py"
    assert container["command"][2] == script.read_text()
    url = _env(container)["CONSORTIUM_MIGRATIONS_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
    assert url == {"name": "demo-consortium-database", "key": "url"}


def test_with_the_bundled_database_the_first_install_migrates_once_it_exists(charts) -> None:
    """The bundled PostgreSQL is created by the release itself: no pre-install hook can reach
    it, and a post-install hook would wait behind `helm install --wait`, which waits for pods
    that wait for the schema. The first run is an ordinary Job; upgrades use the hook."""
    first = charts.platform_profile("default", dependencies=True, is_install=True)
    (job,) = first.of_kind("Job")
    assert job["metadata"]["name"] == "demo-consortium-migrations-install"
    assert "helm.sh/hook" not in job["metadata"].get("annotations", {})
    later = charts.platform_profile("default", dependencies=True, is_install=False)
    (job,) = later.of_kind("Job")
    assert job["metadata"]["name"] == "demo-consortium-migrations"
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-upgrade"


def test_services_wait_for_the_schema_instead_of_migrating(charts) -> None:
    rendered = charts.platform_profile("default")
    needs = {
        "coordinator": ["coordinator"],
        "registry": ["registry"],
        "metrics": ["metrics"],
        "contribution": ["contribution"],
        "gateway": ["metrics"],
    }
    script = (charts.platform_dir / "files" / "scripts" / "wait_for_schema.py").read_text()
    for component, services in needs.items():
        pod = rendered.component("Deployment", component)["spec"]["template"]["spec"]
        wait = pod["initContainers"][0]
        assert wait["name"] == "wait-for-schema"
        assert wait["command"] == ["python", "-c", script] and wait["args"] == services
        assert wait["image"] == pod["containers"][0]["image"]
        config = rendered.component("ConfigMap", component)["data"]
        if component != "gateway":
            assert config[f"CONSORTIUM_{component.upper()}_RUN_MIGRATIONS"] == "false"


def test_without_the_job_services_migrate_themselves(charts) -> None:
    rendered = charts.platform_profile("default", values={"migrations": {"enabled": False}})
    assert not rendered.of_kind("Job")
    for component in SERVICES_WITH_TABLES:
        assert (
            rendered.component("ConfigMap", component)["data"][
                f"CONSORTIUM_{component.upper()}_RUN_MIGRATIONS"
            ]
            == "true"
        )
        pod = rendered.component("Deployment", component)["spec"]["template"]["spec"]
        assert "wait-for-schema" not in [c["name"] for c in pod.get("initContainers", [])]


def test_the_scripts_know_every_service_that_owns_tables(charts) -> None:
    owners = {
        path.parent.parent.name.removeprefix("consortium_")
        for path in charts.root.glob("services/*/consortium_*/migrations/env.py")
    }
    assert owners == SERVICES_WITH_TABLES
    assert set(_script(charts, "migrate").SERVICES) == owners
    # wait_for_schema reads alembic_version_<service>: the table each env.py names
    for service in owners:
        env = charts.root / "services" / service / f"consortium_{service}" / "migrations" / "env.py"
        assert f'version_table="alembic_version_{service}"' in env.read_text(), service


def test_wait_for_schema_knows_each_services_head(charts) -> None:
    wait = _script(charts, "wait_for_schema")
    for service in SERVICES_WITH_TABLES:
        versions = (
            charts.root / "services" / service / f"consortium_{service}" / "migrations" / "versions"
        )
        revisions = set()
        for path in versions.glob("*.py"):
            revisions |= set(re.findall(r'^revision(?:: str)? = "([^"]+)"', path.read_text(), re.M))
        heads = wait.head_of(service)
        assert heads and heads <= revisions, service


def test_the_bundled_database_password_never_enters_a_url(charts) -> None:
    rendered = charts.platform_profile("default", dependencies=True)
    secret = rendered.named("Secret", "demo-consortium-database")
    url = base64.b64decode(secret["data"]["url"]).decode()
    assert (
        url == "postgresql+asyncpg://consortium@demo-postgresql-rw.consortium.svc:5432/consortium"
    )
    pod = rendered.component("Deployment", "coordinator")["spec"]["template"]["spec"]
    env = _env(pod["containers"][0])
    assert env["PGPASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "demo-postgresql-app",
        "key": "password",
    }
    assert env["CONSORTIUM_COORDINATOR_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == (
        "demo-consortium-database"
    )


def test_an_existing_database_secret_is_used_as_is(charts) -> None:
    rendered = charts.platform_profile(
        "default",
        values={"database": {"url": "", "existingSecret": "db", "existingSecretKey": "dsn"}},
    )
    assert not [
        s for s in rendered.of_kind("Secret") if s["metadata"]["name"].endswith("-database")
    ]
    (job,) = rendered.of_kind("Job")
    env = _env(job["spec"]["template"]["spec"]["containers"][0])
    assert env["CONSORTIUM_MIGRATIONS_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "db",
        "key": "dsn",
    }


def test_no_database_is_a_clear_error(charts) -> None:
    with pytest.raises(
        HelmError, match=r"database\.url .* or database\.existingSecret is required"
    ):
        charts.platform_profile("default", values={"database": {"url": ""}})


def test_the_migrate_script_refuses_to_run_without_a_url(charts, monkeypatch) -> None:
    monkeypatch.delenv("CONSORTIUM_MIGRATIONS_DATABASE_URL", raising=False)
    assert _script(charts, "migrate").main() == 2


def test_a_database_ca_reaches_every_process_that_connects(charts) -> None:
    rendered = charts.platform_profile(
        "default", values={"database": {"sslMode": "verify-full", "caSecret": "db-ca"}}
    )
    connecting = [
        (w, c)
        for w, c, _ in rendered.containers()
        if any(e["name"].endswith("DATABASE_URL") for e in c.get("env", []))
    ]
    assert len(connecting) == 5 + 5 + 1  # services, their wait-for-schema, the Job
    for workload, container in connecting:
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["PGSSLMODE"] == "verify-full"
        assert env["PGSSLROOTCERT"] == "/etc/consortium/database/ca.crt"
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        assert mounts["database-ca"] == "/etc/consortium/database"
        volumes = {v["name"]: v for v in rendered.pod_spec(workload)["volumes"]}
        assert volumes["database-ca"]["secret"]["secretName"] == "db-ca"


def test_wait_for_schema_waits_behind_head_and_not_after_a_rollback(charts) -> None:
    wait = _script(charts, "wait_for_schema")
    script = wait.script_of("coordinator")
    (head,) = script.get_heads()
    older = script.get_revision(head).down_revision
    assert wait.schema_ready({head}, script)
    assert not wait.schema_ready(set(), script)  # not migrated yet
    assert not wait.schema_ready({older}, script)  # the Job has not run yet
    # a newer release migrated the database and the images were rolled back: go on
    assert wait.schema_ready({"9999_from_a_newer_release"}, script)
