"""`make deploy-check` end to end (deploy/tools/deploy_check.py's main): on a copy of the
repository's deploy files, a broken manifest or a workload without probes, limits or
non-root (checkov and our own rules) makes it exit non-zero and say why."""

from __future__ import annotations

import shutil
from pathlib import Path

import deploy_check as dc
import pytest
import yaml
from deploycheck.base import ROOT
from deploycheck.dockerfiles import dockerfiles

pytestmark = pytest.mark.unit


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    """What deploy_check reads, copied: deploy/, the Dockerfiles, dev.env, the gunicorn config."""
    shutil.copytree(ROOT / "deploy", tmp_path / "deploy")
    for rel in ("dev.env", ".hadolint.yaml", "services/portal/gunicorn.conf.py"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, tmp_path / rel)
    for path in dockerfiles(ROOT):
        target = tmp_path / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    return tmp_path


def _edit(path: Path, change) -> None:  # type: ignore[no-untyped-def]
    docs = list(yaml.safe_load_all(path.read_text()))
    change(docs)
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))


def _run(root: Path, capsys, *options: str) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    code = dc.main(["--root", str(root), "--only", "dev", "--no-hadolint", *options])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_a_workload_without_probes_limits_or_non_root_fails_the_check(tree, capsys):
    def strip(docs):  # type: ignore[no-untyped-def]
        pod = docs[0]["spec"]["template"]["spec"]
        container = pod["containers"][0]
        container.pop("livenessProbe")
        container["resources"].pop("limits")
        pod["securityContext"].pop("runAsNonRoot")
        container["securityContext"].pop("runAsNonRoot")

    _edit(tree / "deploy/k8s/base/communicator/deployment.yaml", strip)
    code, output = _run(tree, capsys)
    assert code == 1
    where = "dev/deployment/bbp-communicator/communicator"
    assert f"{where}: CKV_K8S_8 Liveness Probe Should be Configured" in output
    assert f"{where}: CKV_K8S_11 CPU limits should be set" in output
    assert f"{where}: runAsNonRoot is not true" in output


def test_a_manifest_with_an_unknown_field_fails_the_check(tree, capsys):
    _edit(
        tree / "deploy/k8s/base/scheduler/pdb.yaml",
        lambda docs: docs[0]["spec"].update(maxUnavaliable=1),
    )
    code, output = _run(tree, capsys, "--no-checkov")
    assert code == 1
    assert "poddisruptionbudget/bbp-scheduler: invalid for Kubernetes" in output
    assert "maxUnavaliable" in output


def test_a_kustomization_that_does_not_render_fails_the_check(tree, capsys):
    kfile = tree / "deploy/k8s/base/portal/kustomization.yaml"
    kfile.write_text(kfile.read_text().replace("- pdb.yaml", "- pdb-missing.yaml"))
    code, output = _run(tree, capsys)
    assert code == 1
    assert "kubectl kustomize" in output and "pdb-missing.yaml" in output


def test_placeholders_are_listed_for_a_release(capsys):
    code = dc.main(["--only", "prod", "--no-hadolint", "--no-checkov", "--release", "prod"])
    output = capsys.readouterr().out
    assert code == 1
    assert "192.0.2.10" in output and "example.invalid" in output
