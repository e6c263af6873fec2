"""Workload rules."""

from __future__ import annotations

from typing import Any

from deploycheck.base import LONG_RUNNING, Finding, workloads

ALLOWED_VOLUME_TYPES = {
    "emptyDir",
    "configMap",
    "secret",
    "projected",
    "downwardAPI",
    "persistentVolumeClaim",
    "ephemeral",
    "csi",
}


def _effective(container: dict, pod_sc: dict, key: str) -> Any:
    sc = container.get("securityContext") or {}
    return sc[key] if key in sc else pod_sc.get(key)


def check_workloads(objects: list[dict], unit: str) -> list[Finding]:
    """The rules every workload of every render must follow (issue 10)."""
    findings: list[Finding] = []
    for w in workloads(objects):
        where = f"{unit}/{w.kind.lower()}/{w.name}"
        spec, pod_sc = w.pod_spec, w.pod_spec.get("securityContext") or {}
        for flag in ("hostNetwork", "hostPID", "hostIPC"):
            if spec.get(flag):
                findings.append(Finding(where, f"{flag} is set"))
        if spec.get("automountServiceAccountToken") is not False:
            findings.append(
                Finding(
                    where, "automountServiceAccountToken is not false (no service needs the API)"
                )
            )
        for volume in spec.get("volumes") or []:
            kinds = set(volume) - {"name"}
            if not kinds <= ALLOWED_VOLUME_TYPES:
                findings.append(
                    Finding(
                        where,
                        f"volume {volume.get('name')!r} of type {sorted(kinds)} "
                        "(hostPath and the like are not allowed)",
                    )
                )
        if not w.containers:
            findings.append(Finding(where, "no containers"))
        for c in w.all_containers():
            cw = f"{where}/{c.get('name')}"
            is_init = c in (spec.get("initContainers") or [])
            res = c.get("resources") or {}
            for section in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    if not (res.get(section) or {}).get(resource):
                        findings.append(Finding(cw, f"no {section}.{resource}"))
            if w.kind in LONG_RUNNING and not is_init:
                for probe in ("livenessProbe", "readinessProbe"):
                    if not c.get(probe):
                        findings.append(Finding(cw, f"no {probe}"))
            if _effective(c, pod_sc, "runAsNonRoot") is not True:
                findings.append(Finding(cw, "runAsNonRoot is not true"))
            if _effective(c, pod_sc, "runAsUser") == 0:
                findings.append(Finding(cw, "runAsUser is 0 (root)"))
            sc = c.get("securityContext") or {}
            if sc.get("readOnlyRootFilesystem") is not True:
                findings.append(Finding(cw, "readOnlyRootFilesystem is not true"))
            if sc.get("allowPrivilegeEscalation") is not False:
                findings.append(Finding(cw, "allowPrivilegeEscalation is not false"))
            if sc.get("privileged"):
                findings.append(Finding(cw, "privileged"))
            caps = sc.get("capabilities") or {}
            if "ALL" not in (caps.get("drop") or []):
                findings.append(Finding(cw, "capabilities do not drop ALL"))
            if caps.get("add"):
                findings.append(Finding(cw, f"capabilities added: {caps['add']}"))
            seccomp = (_effective(c, pod_sc, "seccompProfile") or {}).get("type")
            if seccomp not in ("RuntimeDefault", "Localhost"):
                findings.append(Finding(cw, "seccompProfile is not RuntimeDefault"))
            image = str(c.get("image") or "")
            if (
                not image
                or image.endswith(":latest")
                or (":" not in image.split("/")[-1] and "@" not in image)
            ):
                findings.append(
                    Finding(cw, f"image {image!r} has no tag or digest (or is :latest)")
                )
    return findings
