"""The Dockerfiles: hadolint-clean, pinned, non-root, and each image installs only its own
service and the repository libraries it needs (from their folders, never an index)."""

from __future__ import annotations

from pathlib import Path

import deploy_check as dc
import local_packages as lp
import pytest

pytestmark = pytest.mark.unit

ROOT = dc.ROOT
EXPECTED = {
    "services/portal/Dockerfile",
    "services/scheduler/Dockerfile",
    "services/communicator/Dockerfile",
    "sandbox/Dockerfile",
    "deploy/migrate/Dockerfile",
}


def test_every_image_has_a_dockerfile():
    assert {str(p.relative_to(ROOT)) for p in dc.dockerfiles()} == EXPECTED


def test_hadolint_and_our_rules_pass_on_every_dockerfile():
    findings = dc.check_dockerfiles(ROOT, run_hadolint=True)
    assert not findings, "\n".join(map(str, findings))


@pytest.mark.parametrize("path", sorted(EXPECTED))
def test_dockerfile_spelled_out(path):
    instructions = dc.parse_dockerfile((ROOT / path).read_text())
    froms = [args for ins, args, _ in instructions if ins == "FROM"]
    assert len(froms) == 2, "multi-stage: build, then runtime"
    assert froms[0].startswith("python:3.11.") and froms[0].endswith(" AS build")
    assert froms[1].startswith("python:3.11.")
    final = instructions[[i for i, (ins, _, _) in enumerate(instructions) if ins == "FROM"][-1] :]
    users = [args for ins, args, _ in final if ins == "USER"]
    assert users and users[-1].split(":")[0].isdigit() and users[-1].split(":")[0] != "0"
    assert [args for ins, args, _ in final if ins == "STOPSIGNAL"] == ["SIGTERM"]
    assert any(ins == "ENTRYPOINT" and args.startswith("[") for ins, args, _ in final)
    # The runtime stage copies the venv from the build stage and installs nothing itself.
    assert any(
        ins == "COPY" and args.startswith("--from=build /opt/venv") for ins, args, _ in final
    )
    assert not any(ins == "RUN" and " install " in f" {args} " for ins, args, _ in final)


def test_one_python_for_every_image():
    assert len({img for p in dc.dockerfiles() for img in dc.base_images(p)}) == 1


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
        ("FROM python:3.11.14-slim\nUSER 1\nENTRYPOINT gunicorn app\n", "exec form"),
        ("FROM python:3.11.14-slim\nUSER 10001\n", "STOPSIGNAL"),
        ("FROM python:3.11.14-slim\nUSER 10001\n", "PYTHONDONTWRITEBYTECODE"),
        ("FROM python:3.11.14-slim\nRUN pip install --no-cache-dir flask\n", "-c constraints"),
        ("FROM python:3.11.14-slim\nRUN python -m pip install -c c.txt x\n", "no-cache-dir"),
    ],
)
def test_our_dockerfile_rules_catch_a_bad_dockerfile(text, expected):
    findings = dc.check_dockerfile(Path("Dockerfile"), text)
    assert any(expected in f.message for f in findings), findings


def test_a_stage_alias_is_not_mistaken_for_an_unpinned_image():
    text = (
        "FROM python:3.11.14-slim AS build\nFROM build AS test\nFROM python:3.11.14-slim\n"
        'ENV PYTHONDONTWRITEBYTECODE=1\nUSER 10001\nSTOPSIGNAL SIGTERM\nENTRYPOINT ["x"]\n'
    )
    assert dc.check_dockerfile(Path("Dockerfile"), text) == []


def test_hadolint_fails_a_bad_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM ghcr.io/x/python:latest\nRUN pip install flask\nUSER root\n")
    codes = {f.message.split()[1] for f in dc.hadolint([bad], ROOT)}
    assert {"DL3026", "DL3013", "DL3042", "DL3002"} <= codes, codes


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
