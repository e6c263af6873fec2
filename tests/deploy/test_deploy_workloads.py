"""The workload rules (deploy/tools/deploycheck/workloads.py): checkov's Kubernetes checks, but
the skipped ones, and our two Pod Security rules pass on every render, and each skip is still
needed; a workload breaking a rule is reported, naming the workload, its container and the
rule. checkov runs once for all the renders and once for all the broken copies (it takes
seconds to start)."""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest
from deploycheck.base import Finding, find_object
from deploycheck.workloads import SKIPPED, check_workloads, run_checkov

pytestmark = pytest.mark.unit


def _container(p: dict) -> dict:
    return p["containers"][0]


# Each case breaks the pod spec of a copy of prod's portal Deployment; every text listed must
# be in a finding ("where: message", the container named where the rule is about one).
BREAKAGES: dict[str, tuple[Callable[[dict], object], tuple[str, ...]]] = {
    "no-liveness": (lambda p: _container(p).pop("livenessProbe"), ("portal/portal: CKV_K8S_8 ",)),
    "no-readiness": (lambda p: _container(p).pop("readinessProbe"), ("portal: CKV_K8S_9 ",)),
    "no-limits": (
        lambda p: _container(p)["resources"].pop("limits"),
        ("portal: CKV_K8S_11 CPU limits", "portal: CKV_K8S_13 Memory limits"),
    ),
    "no-cpu-request": (
        lambda p: _container(p)["resources"]["requests"].pop("cpu"),
        ("portal: CKV_K8S_10 ",),
    ),
    # checkov accepts a non-zero runAsUser instead; the restricted Pod Security Standard not.
    "runAsNonRoot-unset": (
        lambda p: (
            p["securityContext"].pop("runAsNonRoot"),
            _container(p)["securityContext"].pop("runAsNonRoot"),
        ),
        ("portal/portal: runAsNonRoot is not true",),
    ),
    "root-user": (lambda p: p["securityContext"].update(runAsUser=0), ("portal: CKV_K8S_40 ",)),
    "writable-root": (
        lambda p: _container(p)["securityContext"].update(readOnlyRootFilesystem=False),
        ("portal/portal: CKV_K8S_22 ",),
    ),
    "privilege-escalation": (
        lambda p: _container(p)["securityContext"].pop("allowPrivilegeEscalation"),
        ("portal/portal: CKV_K8S_20 ",),
    ),
    "not-all-dropped": (
        lambda p: _container(p)["securityContext"]["capabilities"].update(drop=["NET_RAW"]),
        ("portal/portal: CKV_K8S_37 ",),
    ),
    "capability-added": (
        lambda p: _container(p)["securityContext"]["capabilities"].update(add=["NET_ADMIN"]),
        ("portal/portal: CKV_K8S_25 ",),
    ),
    "privileged": (
        lambda p: _container(p)["securityContext"].update(privileged=True),
        ("portal/portal: CKV_K8S_16 ",),
    ),
    "no-seccomp": (lambda p: p["securityContext"].pop("seccompProfile"), ("CKV_K8S_31 ",)),
    "host-network": (lambda p: p.update(hostNetwork=True), ("CKV_K8S_19 ",)),
    "host-pid": (lambda p: p.update(hostPID=True), ("CKV_K8S_17 ",)),
    "host-path": (
        lambda p: p["volumes"].append({"name": "h", "hostPath": {"path": "/"}}),
        ("bbp-portal: volume 'h' of type ['hostPath']",),
    ),
    "latest": (lambda p: _container(p).update(image="bbp/portal:latest"), ("CKV_K8S_14 ",)),
    "no-tag": (lambda p: _container(p).update(image="bbp/portal"), ("CKV_K8S_14 ",)),
    "token-mounted": (lambda p: p.pop("automountServiceAccountToken"), ("CKV_K8S_38 ",)),
    # An init container is held to the same rules (probes aside).
    "init-container": (
        lambda p: p.update(initContainers=[{"name": "wait", "image": "busybox:1.36.1"}]),
        ("bbp-portal/wait: CKV_K8S_10 ", "bbp-portal/wait: CKV_K8S_22 "),
    ),
}


@pytest.fixture(scope="module")
def broken(units: dict[str, list[dict]]) -> list[Finding]:
    """Every case of BREAKAGES on its own copy of prod's portal (named after the case, with
    prod's NetworkPolicies, which checkov's CKV2_K8S_6 wants), in one checkov run."""
    policies = [o for o in units["prod"] if o["kind"] == "NetworkPolicy"]
    copies = {}
    for case, (breakage, _) in BREAKAGES.items():
        deployment = copy.deepcopy(find_object(units["prod"], "Deployment", "bbp-portal"))
        breakage(deployment["spec"]["template"]["spec"])
        copies[case] = [deployment, *policies]
    return check_workloads(copies)


def test_every_workload_passes_checkov_but_the_skipped_checks_and_each_skip_is_needed(units):
    """checkov with nothing skipped: exactly the skipped checks fail (a skip that is no longer
    needed, or names no check of this checkov, fails here); our own rules pass."""
    findings = run_checkov(units, skipped=())
    assert {f.message.split()[0] for f in findings} == set(SKIPPED), "\n".join(map(str, findings))
    assert all(len(reason.split()) >= 8 for reason in SKIPPED.values()), SKIPPED
    assert not check_workloads(units, checkov=False)


@pytest.mark.parametrize("case", BREAKAGES)
def test_a_workload_breaking_a_rule_is_reported(broken, case):
    mine = [str(f) for f in broken if f.where.startswith(f"{case}/")]
    for expected in BREAKAGES[case][1]:
        assert any(expected in line for line in mine), mine
    assert all(line.startswith(f"{case}/deployment/bbp-portal") for line in mine), mine
    assert not [line for line in mine if any(f": {skip} " in line for skip in SKIPPED)], mine
