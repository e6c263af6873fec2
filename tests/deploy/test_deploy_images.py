"""The Dockerfiles: hadolint-clean, pinned, non-root, and each image installs only its own
service and the repository libraries it needs (from their folders, never an index)."""

from __future__ import annotations

from pathlib import Path

import local_packages as lp
import pytest
import yaml
from deploycheck.base import ROOT, workloads
from deploycheck.dockerfiles import (
    Stage,
    base_images,
    check_dockerfile,
    check_dockerfiles,
    dockerfiles,
    hadolint,
    inherited,
    stages,
    targets,
)

pytestmark = pytest.mark.unit

DOCKERFILE = ROOT / "deploy/docker/Dockerfile"
IMAGES = ("portal", "scheduler", "communicator", "migrate", "sandbox")


def _stages() -> list[Stage]:
    return stages(DOCKERFILE.read_text())


def test_every_image_is_a_target_of_the_one_dockerfile():
    assert dockerfiles() == [DOCKERFILE]
    assert sorted(t.name for t in targets(_stages())) == sorted(IMAGES)


def test_hadolint_and_our_rules_pass_on_every_dockerfile():
    findings = check_dockerfiles(ROOT, run_hadolint=True)
    assert not findings, "\n".join(map(str, findings))


@pytest.mark.parametrize("image", IMAGES)
def test_image_spelled_out(image):
    found = _stages()
    by_name = {s.name: s for s in found}
    target = by_name[image]
    final = inherited(target, found)
    # Every image starts from the one runtime stage (the pinned Python, the user, no pip).
    chain, stage = [], target
    while stage.base in by_name:
        chain.append(stage.base)
        stage = by_name[stage.base]
    assert chain[-1] == "runtime" and stage.base.startswith("python:3.11.")
    users = [args for ins, args, _ in final if ins == "USER"]
    assert users and users[-1].split(":")[0].isdigit() and users[-1].split(":")[0] != "0"
    assert [args for ins, args, _ in final if ins == "STOPSIGNAL"] == ["SIGTERM"]
    assert any(ins == "ENTRYPOINT" and args.startswith("[") for ins, args, _ in final)
    # It copies its own virtualenv from its build stage and installs nothing itself.
    copies = [args for ins, args, _ in final if ins == "COPY" and args.startswith("--from=")]
    assert copies == [f"--from={image}-venv /opt/venv /opt/venv"]
    assert not any(ins == "RUN" and " install " in f" {args} " for ins, args, _ in final)
    venv = by_name[f"{image}-venv"]
    assert venv.base == "build"
    runs = " ".join(args for ins, args, _ in venv.instructions if ins == "RUN")
    package = (
        "libs/common --extra alembic"
        if image == "migrate"
        else ("sandbox" if image == "sandbox" else f"services/{image}")
    )
    assert f"local_packages.py {package} > requirements.txt" in runs


def test_the_virtualenvs_have_no_pip():
    build = next(s for s in _stages() if s.name == "build")
    env = " ".join(args for ins, args, _ in build.instructions if ins == "ENV")
    assert "PIP_PYTHON=/opt/venv/bin/python" in env, "pip installs into the image's venv"
    assert ("RUN", "python -m venv --without-pip /opt/venv") in {
        (ins, args) for ins, args, _ in build.instructions
    }


def test_every_image_the_manifests_and_compose_name_is_built_here(units):
    """Kubernetes runs bbp-<target> images; compose builds each service from its target."""
    names = {
        c["image"].split("@")[0].rsplit("/", 1)[-1].split(":")[0].removeprefix("bbp-")
        for objects in units.values()
        for w in workloads(objects)
        for c in w.containers
    }
    assert names == set(IMAGES)
    compose = yaml.safe_load((ROOT / "deploy/compose.yaml").read_text())["services"]
    built = {name: s["build"] for name, s in compose.items() if "build" in s}
    assert {b["dockerfile"] for b in built.values()} == {"deploy/docker/Dockerfile"}
    assert {name: b["target"] for name, b in built.items()} == {
        **{image: image for image in IMAGES},
        "sinks": "sandbox",
    }


def test_one_python_for_every_image():
    assert len({img for p in dockerfiles() for img in base_images(p)}) == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("FROM python:3.11-slim\nUSER 10001\n", "not pinned"),
        ("FROM python:latest\nUSER 10001\n", "not pinned"),
        ("FROM python\nUSER 10001\n", "not pinned"),
        ("FROM python:3.11.14-slim\nRUN true\n", "sets no USER"),
        ("FROM python:3.11.14-slim\nUSER root\n", "must be numeric"),
        ("FROM python:3.11.14-slim\nUSER 0\n", "must be numeric and non-zero"),
        ("FROM python:3.11.14-slim\nUSER 10001\n", "no ENTRYPOINT"),
        ("FROM python:3.11.14-slim\nUSER 10001\n", "STOPSIGNAL"),
        ("FROM python:3.11.14-slim\nUSER 10001\n", "PYTHONDONTWRITEBYTECODE"),
        ("FROM python:3.11.14-slim\nRUN pip install --no-cache-dir flask\n", "-c constraints"),
        ("FROM python:3.11.14-slim\nRUN python -m pip install x\n", "-c constraints"),
    ],
)
def test_our_dockerfile_rules_catch_a_bad_dockerfile(text, expected):
    findings = check_dockerfile(Path("Dockerfile"), text)
    assert any(expected in f.message for f in findings), findings


def test_a_stage_alias_is_not_mistaken_for_an_unpinned_image():
    text = (
        "FROM python:3.11.14-slim AS build\nFROM build AS test\nFROM python:3.11.14-slim\n"
        "COPY --from=test /x /x\n"
        'ENV PYTHONDONTWRITEBYTECODE=1\nUSER 10001\nSTOPSIGNAL SIGTERM\nENTRYPOINT ["x"]\n'
    )
    assert check_dockerfile(Path("Dockerfile"), text) == []


def test_each_target_is_held_to_the_rules_with_what_it_inherits():
    text = (
        "FROM python:3.11.14-slim AS runtime\nENV PYTHONDONTWRITEBYTECODE=1\nSTOPSIGNAL SIGTERM\n"
        'FROM runtime AS good\nUSER 10001\nENTRYPOINT ["x"]\n'
        'FROM runtime AS rootly\nENTRYPOINT ["y"]\n'
        "FROM python:3.11.14-slim AS bare\nUSER 10001\n"
    )
    messages = [f.message for f in check_dockerfile(Path("Dockerfile"), text)]
    assert not [m for m in messages if "target good" in m], messages
    assert "target rootly sets no USER (it would run as root)" in messages
    assert "target bare has no ENTRYPOINT" in messages
    assert "target bare has no STOPSIGNAL SIGTERM" in messages


def test_hadolint_fails_a_bad_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text(
        "FROM ghcr.io/x/python:latest\nRUN pip install flask\nUSER root\nENTRYPOINT gunicorn app\n"
    )
    codes = {f.message.split()[1] for f in hadolint([bad], ROOT)}
    assert {"DL3026", "DL3013", "DL3042", "DL3002", "DL3025"} <= codes, codes


# ---- which packages each image installs --------------------------------------------------


@pytest.mark.parametrize("service", ["portal", "scheduler", "communicator"])
def test_a_service_image_installs_the_service_and_the_libraries_it_needs(service):
    lines = lp.requirement_lines(ROOT, Path(f"services/{service}"), [])
    assert lines[-1] == f"./services/{service}"
    assert "./libs/common" in lines
    assert not [x for x in lines if x.startswith("./services/") and service not in x]


def test_the_migrate_image_gets_common_and_alembic():
    assert lp.requirement_lines(ROOT, Path("libs/common"), ["alembic"]) == [
        "./libs/common",
        "alembic",
    ]


def _package(root: Path, folder: str, name: str, deps: list[str]) -> None:
    (root / folder).mkdir(parents=True)
    quoted = ", ".join(f'"{d}"' for d in deps)
    (root / folder / "pyproject.toml").write_text(
        f'[project]\nname = "{name}"\nversion = "0"\ndependencies = [{quoted}]\n'
    )


def test_local_dependencies_are_followed_transitively_and_only_those(tmp_path):
    _package(tmp_path, "libs/mobiquity_client", "mobiquity-client", ["requests>=2"])
    _package(tmp_path, "libs/common", "bbp-common", ["sqlalchemy", "Mobiquity_Client"])
    _package(tmp_path, "libs/unused", "bbp-unused", [])
    _package(tmp_path, "services/a", "bbp-a", ["bbp-common", "flask"])
    assert lp.requirement_lines(tmp_path, Path("services/a"), []) == [
        "./libs/mobiquity_client",
        "./libs/common",
        "./services/a",
    ]


def test_a_dependency_cycle_is_an_error(tmp_path):
    _package(tmp_path, "libs/x", "x", ["y"])
    _package(tmp_path, "libs/y", "y", ["x"])
    with pytest.raises(ValueError, match="cycle"):
        lp.requirement_lines(tmp_path, Path("libs/x"), [])
