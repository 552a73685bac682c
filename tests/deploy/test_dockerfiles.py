"""The container images: one Dockerfile per service and one for the client SDK, built in
stages from a base pinned by version and digest, run as an unprivileged user, with torch from
the CPU wheel index, and with the repository packages each service imports. Nothing is built
here (no container engine): these are checks of the files themselves."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "deploy" / "docker"
SERVICES = {
    "coordinator": 8700,
    "registry": 8701,
    "metrics": 8702,
    "contribution": 8703,
    "gateway": 8443,
}
IMAGES = [*SERVICES, "client"]
PACKAGE_DIRS = {
    "consortium-core": "core",
    "consortium-tasks": "tasks",
    "consortium-client": "client-sdk",
    "consortium-service-kit": "services/kit",
    **{f"consortium-{s}": f"services/{s}" for s in SERVICES},
}
IMPORT_NAMES = {
    "consortium_core": "core",
    "consortium_tasks": "tasks",
    "consortium_client": "client-sdk",
    "consortium_service": "services/kit",
    **{f"consortium_{s}": f"services/{s}" for s in SERVICES},
}


def _dockerfile(name: str) -> str:
    return (DOCKER / f"{name}.Dockerfile").read_text()


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", text)
    found = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def _base_images(text: str) -> list[str]:
    args = dict(
        rest.split("=", 1) for word, rest in _instructions(text) if word == "ARG" and "=" in rest
    )
    images = []
    for word, rest in _instructions(text):
        if word == "FROM":
            image = rest.split()[0]
            images.append(re.sub(r"\$\{(\w+)\}", lambda m: args[m[1]], image))
    return images


def _dockerignore() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _ignored(path: str, patterns: list[str]) -> bool:
    """Whether Docker's build context leaves ``path`` out (a matched directory takes its files)."""
    parts = path.strip("/").split("/")
    for i in range(1, len(parts) + 1):
        prefix = "/".join(parts[:i])
        for pattern in patterns:
            if fnmatch.fnmatchcase(prefix, pattern):
                return True
            if pattern.startswith("**/") and fnmatch.fnmatchcase(parts[i - 1], pattern[3:]):
                return True
    return False


@pytest.mark.parametrize("name", IMAGES)
def test_each_image_has_a_multi_stage_dockerfile(name: str) -> None:
    text = _dockerfile(name)
    froms = [rest for word, rest in _instructions(text) if word == "FROM"]
    assert len(froms) >= 2, "build and runtime stages"
    assert froms[-1].endswith("AS runtime")
    assert any(
        w == "COPY" and r.startswith("--from=build /opt/consortium") for w, r in _instructions(text)
    )


@pytest.mark.parametrize("name", IMAGES)
def test_base_images_are_pinned_by_version_and_digest(name: str) -> None:
    for image in _base_images(_dockerfile(name)):
        match = re.fullmatch(r"(?P<repo>[\w./-]+):(?P<tag>[\w.-]+)@sha256:[a-f0-9]{64}", image)
        assert match, f"{image}: pin a version tag and a digest"
        assert re.search(r"\d+\.\d+\.\d+", match["tag"]) and "latest" not in match["tag"], image
    python = {i for i in _base_images(_dockerfile(name)) if i.startswith("python:")}
    assert python == {
        i for i in _base_images(_dockerfile("coordinator")) if i.startswith("python:")
    }
    assert all(i.startswith("python:3.11.") for i in python)


@pytest.mark.parametrize("name", IMAGES)
def test_the_image_runs_as_an_unprivileged_user(name: str) -> None:
    instructions = _instructions(_dockerfile(name))
    runtime = instructions[max(i for i, (w, _) in enumerate(instructions) if w == "FROM") :]
    users = [rest for word, rest in runtime if word == "USER"]
    assert users, "the runtime stage sets USER"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) >= 1000, "a numeric uid (runAsNonRoot can check it)"
    assert gid.isdigit() and int(gid) >= 1000


@pytest.mark.parametrize("name", IMAGES)
def test_torch_comes_from_the_cpu_index_before_anything_needs_it(name: str) -> None:
    instructions = _instructions(_dockerfile(name))
    runs = [rest for word, rest in instructions if word == "RUN" and "pip install" in rest]
    assert 'pip install --index-url "${TORCH_INDEX_URL}" torch==2.13.0' in runs[0]
    assert "ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu" in _dockerfile(name)
    assert all("--constraint /tmp/constraints.txt" in run for run in runs[1:])


def _installed(name: str) -> set[str]:
    text = re.sub(r"\\\n", " ", _dockerfile(name))
    return set(
        re.findall(
            r"/src/([\w/-]+)", " ".join(line for line in text.splitlines() if "pip install" in line)
        )
    )


def _needed(directory: str) -> set[str]:
    """A package's repository packages: declared dependencies and what its code imports."""
    needed, todo = set(), [directory]
    while todo:
        current = todo.pop()
        if current in needed:
            continue
        needed.add(current)
        project = tomllib.loads((ROOT / current / "pyproject.toml").read_text())["project"]
        for line in project["dependencies"]:
            name = Requirement(line).name
            if name in PACKAGE_DIRS:
                todo.append(PACKAGE_DIRS[name])
        for source in (ROOT / current).glob("consortium_*/**/*.py"):
            for module in re.findall(
                r"^(?:from|import) (consortium_\w+)", source.read_text(), re.M
            ):
                todo.append(IMPORT_NAMES[module])
    return needed


@pytest.mark.parametrize("name", IMAGES)
def test_each_image_installs_the_packages_its_code_needs(name: str) -> None:
    directory = "client-sdk" if name == "client" else f"services/{name}"
    assert _installed(name) == _needed(directory)


@pytest.mark.parametrize("name", IMAGES)
def test_copied_paths_exist_and_reach_the_build_context(name: str) -> None:
    patterns = _dockerignore()
    for word, rest in _instructions(_dockerfile(name)):
        if word != "COPY" or rest.startswith("--from"):
            continue
        *sources, _ = rest.split()
        for source in sources:
            assert (ROOT / source).exists(), source
            assert not _ignored(source, patterns), f"{source} is left out by .dockerignore"


@pytest.mark.parametrize("name", list(SERVICES))
def test_services_start_their_command_on_the_charts_port(name: str) -> None:
    instructions = _instructions(_dockerfile(name))
    assert ("ENTRYPOINT", f'["consortium-{name}"]') in instructions
    assert ("EXPOSE", str(SERVICES[name])) in instructions
    scripts = tomllib.loads((ROOT / "services" / name / "pyproject.toml").read_text())["project"][
        "scripts"
    ]
    assert f"consortium-{name}" in scripts


def test_the_gateway_image_builds_and_serves_the_console() -> None:
    text = _dockerfile("gateway")
    assert re.search(r"FROM \$\{NODE_IMAGE\} AS console", text)
    assert "RUN npm ci" in text and "RUN npm run build" in text
    assert "COPY --from=console /web/dist /opt/consortium/console" in text
    assert "CONSORTIUM_GATEWAY_CONSOLE_DIR=/opt/consortium/console" in text
    engines = re.search(r'"node": ">=(\d+)\.(\d+)"', (ROOT / "web" / "package.json").read_text())
    node = next(i for i in _base_images(text) if i.startswith("node:"))
    major = int(node.split(":")[1].split(".")[0])
    assert major > int(engines[1]) or major == int(engines[1])


def test_the_context_leaves_local_state_out() -> None:
    patterns = _dockerignore()
    assert not [p for p in patterns if p.startswith("!")]
    for path in (
        ".venv",
        ".venv/bin/python",
        "var",
        "var/pki/ca.key",
        ".git",
        ".git/config",
        "node_modules",
        "web/node_modules",
        "web/node_modules/vue/index.js",
        "services/gateway/consortium_gateway/__pycache__/app.cpython-311.pyc",
        "core/consortium_core.egg-info",
    ):
        assert _ignored(path, patterns), path
    for path in (
        "core/consortium_core/__init__.py",
        "web/src/main.ts",
        "deploy/docker/constraints.txt",
    ):
        assert not _ignored(path, patterns), path


def test_the_constraints_satisfy_every_package_and_pin_torch() -> None:
    pins = {}
    for line in (DOCKER / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[name] = Version(version)
    assert pins["torch"] == Version("2.13.0")
    for directory in set(PACKAGE_DIRS.values()):
        project = tomllib.loads((ROOT / directory / "pyproject.toml").read_text())["project"]
        for line in project["dependencies"]:
            requirement = Requirement(line)
            on_linux = requirement.marker is None or requirement.marker.evaluate(
                {"sys_platform": "linux"}
            )
            if requirement.name in PACKAGE_DIRS or not on_linux:
                continue
            key = requirement.name.lower().replace("_", "-")
            assert key in pins, f"{requirement.name} ({directory}) is not pinned"
            assert requirement.specifier.contains(pins[key], prereleases=True), line
