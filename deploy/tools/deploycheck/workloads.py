"""The rules every workload (Deployment, Job, …) of every render follows: checkov's Kubernetes
checks, run offline on the rendered objects, all of them but the few skipped below (each with
its reason); and the two rules of the restricted Pod Security Standard — the namespace
enforces it (deploy/README.md) — that checkov has no check for.

checkov covers, among others: requests and limits (CKV_K8S_10-13), liveness and readiness
probes of long-running workloads (8, 9), privileged and host namespaces (16-19), privilege
escalation (20), read-only root (22), root containers and low UIDs (23, 40), added and
not-dropped capabilities (25, 28, 37), seccomp (31), the service-account token (38), image
tags (14), and a NetworkPolicy per pod (CKV2_K8S_6). checkov has a virtualenv of its own
(requirements-checkov.txt); it runs once for all the renders.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from deploycheck.base import CheckError, Finding, Workload, tool, workloads

# checkov's Kubernetes checks we do not apply, and why. Every other one runs.
SKIPPED = {
    "CKV_K8S_15": (
        "imagePullPolicy Always: a release's images are immutable (a version tag, a digest "
        "once pushed); IfNotPresent starts pods without the registry"
    ),
    "CKV_K8S_35": (
        "Secrets as files rather than environment variables: every setting is read from the "
        "environment (pydantic-settings), Secrets through envFrom, and the masker keeps them "
        "out of logs"
    ),
    "CKV_K8S_43": (
        "images by digest: the overlays pin a release tag; the digests are set per release in "
        "overlays/*/release (deploy/README.md, Images), and CKV_K8S_14 checks the tag"
    ),
}

# The volume types the restricted Pod Security Standard allows (no hostPath and the like);
# checkov only knows the Docker socket (CKV_K8S_27).
ALLOWED_VOLUME_TYPES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
_CONTAINER_KEY = re.compile(r"\b(containers|initContainers)/\[(\d+)\]")


def check_workloads(units: Mapping[str, list[dict]], checkov: bool = True) -> list[Finding]:
    """Every workload of every unit (name → rendered objects): checkov, then our own rules."""
    findings = run_checkov(units) if checkov else []
    for unit, objects in units.items():
        for w in workloads(objects):
            findings += _pod_security(w, f"{unit}/{w.kind.lower()}/{w.name}")
    return findings


def run_checkov(
    units: Mapping[str, list[dict]], skipped: Iterable[str] = tuple(SKIPPED)
) -> list[Finding]:
    """One checkov run over every unit, offline; one finding per failed check."""
    skip = ["--skip-check", ",".join(skipped)] if skipped else []
    files = {f"{unit.replace('/', '__')}.yaml": unit for unit in units}
    with tempfile.TemporaryDirectory(prefix="deploy-check-") as tmp:
        for name, unit in files.items():
            Path(tmp, name).write_text(yaml.safe_dump_all(units[unit], sort_keys=False))
        proc = subprocess.run(  # noqa: S603 - our pinned checkov, our files
            [
                tool("checkov"),
                *("--directory", tmp, "--framework", "kubernetes", "--output", "json"),
                *("--quiet", "--compact", "--skip-download", *skip),
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
            cwd=tmp,
            # Offline: no look-up of a newer version, no download of policies or guidelines.
            env={**os.environ, "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true", "BC_SKIP_MAPPING": "TRUE"},
        )
    try:
        report = json.loads(proc.stdout) if proc.returncode in (0, 1) else None
    except json.JSONDecodeError:
        report = None
    if report is None:
        raise CheckError(f"checkov failed (exit {proc.returncode}):\n{proc.stderr.strip()}")
    reports = report if isinstance(report, list) else [report]
    if any(r.get("summary", {}).get("parsing_errors") for r in reports):
        raise CheckError(f"checkov could not parse the renders: {reports}")
    found = []
    for r in reports:
        for failed in (r.get("results") or {}).get("failed_checks") or []:
            unit = files.get(Path(failed["file_path"]).name, failed["file_path"])
            found.append(_finding(failed, unit, units.get(unit, [])))
    return sorted(found, key=str)


def _finding(failed: dict[str, Any], unit: str, objects: list[dict]) -> Finding:
    """``unit/kind/name[/container]: CKV_… what checkov says``."""
    kind, _, rest = str(failed["resource"]).partition(".")
    name = rest.partition(".")[2]  # Kind.namespace.name
    where = f"{unit}/{kind.lower()}/{name}"
    keys = " ".join((failed.get("check_result") or {}).get("evaluated_keys") or [])
    match = _CONTAINER_KEY.search(keys)
    workload = next((w for w in workloads(objects) if (w.kind, w.name) == (kind, name)), None)
    if match and workload is not None:
        containers = workload.pod_spec.get(match.group(1)) or []
        if int(match.group(2)) < len(containers):
            where += f"/{containers[int(match.group(2))].get('name')}"
    return Finding(where, f"{failed['check_id']} {failed['check_name']}")


def _pod_security(w: Workload, where: str) -> list[Finding]:
    """The restricted Pod Security Standard where checkov is looser: runAsNonRoot true for
    every container, init containers too (CKV_K8S_23 takes a non-zero runAsUser instead and
    reads only the main containers); no volume type outside the allowed list."""
    findings = []
    pod_sc = w.pod_spec.get("securityContext") or {}
    for c in w.all_containers():
        sc = c.get("securityContext") or {}
        if sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is not True:
            findings.append(Finding(f"{where}/{c.get('name')}", "runAsNonRoot is not true"))
    for volume in w.pod_spec.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if not kinds <= ALLOWED_VOLUME_TYPES:
            findings.append(
                Finding(
                    where,
                    f"volume {volume.get('name')!r} of type {sorted(kinds)} "
                    "(hostPath and the like are not allowed)",
                )
            )
    return findings
