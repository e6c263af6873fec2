"""What each of the three services needs in a main overlay (dev, prod): probes on /healthz
and /readyz, a PDB, anti-affinity, Prometheus annotations on the metrics port, a grace
period covering the graceful stop, its ConfigMaps and Secret, ports equal to the port
settings; the portal's Service and TLS Ingress, the communicator's HPA, the scheduler's two
replicas; and one release for the services and their migration Job."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from deploycheck.base import (
    ROOT,
    SERVICES,
    Finding,
    Workload,
    by_kind,
    env_of,
    selects,
    workloads,
)
from deploycheck.config import secret_examples


def _seconds(value: str | None) -> float | None:
    if value is None:
        return None
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*", str(value))
    if not match:
        return None
    return float(match.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[match.group(2) or "s"]


def check_services(objects: list[dict], unit: str, root: Path = ROOT) -> list[Finding]:
    """What each of the three services needs, in a main overlay (dev, prod)."""
    findings: list[Finding] = []
    deployments = by_kind(objects, "Deployment")
    pdbs = list(by_kind(objects, "PodDisruptionBudget").values())
    examples = secret_examples(root)
    all_configmaps = {cm["metadata"]["name"] for cm in by_kind(objects, "ConfigMap").values()}
    by_name = {w.name: w for w in workloads(objects)}
    for svc in SERVICES:
        name = f"bbp-{svc}"
        where = f"{unit}/deployment/{name}"
        if name not in deployments:
            findings.append(Finding(unit, f"no Deployment {name}"))
            continue
        w = by_name[name]
        spec = deployments[name]["spec"]
        container = w.containers[0]
        ports = w.named_ports()
        probes = {
            p: (container.get(p) or {}).get("httpGet") or {}
            for p in ("livenessProbe", "readinessProbe")
        }
        if probes["livenessProbe"].get("path") != "/healthz":
            findings.append(Finding(where, "livenessProbe is not an HTTP GET of /healthz"))
        if probes["readinessProbe"].get("path") != "/readyz":
            findings.append(Finding(where, "readinessProbe is not an HTTP GET of /readyz"))
        if not any(selects(p["spec"].get("selector"), w.pod_labels) for p in pdbs):
            findings.append(Finding(where, "no PodDisruptionBudget selects its pods"))
        anti = (w.pod_spec.get("affinity") or {}).get("podAntiAffinity") or {}
        terms = [t.get("podAffinityTerm", t) for key in anti for t in anti[key] or []]
        if not any(selects(t.get("labelSelector"), w.pod_labels) for t in terms):
            findings.append(Finding(where, "no pod anti-affinity against its own pods"))
        ann = w.pod_annotations
        if ann.get("prometheus.io/scrape") != "true" or not ann.get("prometheus.io/port"):
            findings.append(
                Finding(where, "no Prometheus scrape annotations (prometheus.io/scrape, /port)")
            )
        elif str(ports.get("metrics")) != ann["prometheus.io/port"]:
            findings.append(
                Finding(
                    where,
                    f"prometheus.io/port {ann['prometheus.io/port']} is not the container "
                    f"port named metrics ({ports.get('metrics')})",
                )
            )
        grace = w.pod_spec.get("terminationGracePeriodSeconds")
        if grace is None:
            findings.append(Finding(where, "no terminationGracePeriodSeconds"))
        # References: the ConfigMaps exist, the Secret is described by an example.
        refs = container.get("envFrom") or []
        for ref in refs:
            if "configMapRef" in ref and ref["configMapRef"]["name"] not in all_configmaps:
                findings.append(
                    Finding(where, f"ConfigMap {ref['configMapRef']['name']} is not rendered")
                )
            if "secretRef" in ref and ref["secretRef"]["name"] not in examples:
                findings.append(
                    Finding(where, f"Secret {ref['secretRef']['name']} has no secret.example.yaml")
                )
        if not any("secretRef" in r for r in refs):
            findings.append(Finding(where, f"no Secret referenced (expected bbp-{svc}-secrets)"))
        env = env_of(w, objects, container)
        if svc == "portal":
            _check_port_setting(findings, where, env, "BBP_PORTAL_PORT", ports.get("http"))
            _check_port_setting(
                findings, where, env, "BBP_PORTAL_METRICS_PORT", ports.get("metrics")
            )
            pre_stop = (
                ((container.get("lifecycle") or {}).get("preStop") or {})
                .get("sleep", {})
                .get("seconds", 0)
            )
            graceful = _seconds(env.get("BBP_PORTAL_GRACEFUL_TIMEOUT", "30")) or 0
            if grace is not None and grace < pre_stop + graceful + 5:
                findings.append(
                    Finding(
                        where,
                        f"terminationGracePeriodSeconds {grace} < preStop {pre_stop} "
                        f"+ graceful timeout {graceful:g} + 5",
                    )
                )
            mounts = {m["mountPath"] for m in container.get("volumeMounts") or []}
            multiproc = env.get("PROMETHEUS_MULTIPROC_DIR")
            if not multiproc or multiproc not in mounts:
                findings.append(
                    Finding(
                        where, "PROMETHEUS_MULTIPROC_DIR is not set to a mounted (writable) volume"
                    )
                )
            findings += _check_portal_exposure(objects, unit, w)
        else:
            _check_port_setting(findings, where, env, "BBP_HEALTH_PORT", ports.get("metrics"))
        if svc == "scheduler" and spec.get("replicas") != 2:
            findings.append(
                Finding(
                    where, f"replicas is {spec.get('replicas')}, not 2 (one active, one standby)"
                )
            )
        if svc == "communicator":
            hpas = [
                h
                for h in by_kind(objects, "HorizontalPodAutoscaler").values()
                if h["apiVersion"] == "autoscaling/v2"
                and h["spec"]["scaleTargetRef"].get("kind") == "Deployment"
                and h["spec"]["scaleTargetRef"].get("name") == name
            ]
            if not hpas:
                findings.append(
                    Finding(where, "no autoscaling/v2 HorizontalPodAutoscaler targets it")
                )
            if "replicas" in spec:
                findings.append(Finding(where, "sets replicas although its HPA owns the count"))
    sandbox = by_name.get("bbp-sandbox")
    if sandbox is not None:
        env = env_of(sandbox, objects, sandbox.containers[0])
        _check_port_setting(
            findings,
            f"{unit}/deployment/bbp-sandbox",
            env,
            "SANDBOX_PORT",
            sandbox.named_ports().get("mobiquity"),
        )
    return findings


def _check_port_setting(
    findings: list[Finding], where: str, env: Mapping[str, str], key: str, port: int | None
) -> None:
    if port is None:
        findings.append(Finding(where, f"no container port for {key}"))
    elif str(env.get(key)) != str(port):
        findings.append(Finding(where, f"{key}={env.get(key)} but the container port is {port}"))


def _check_portal_exposure(objects: list[dict], unit: str, portal: Workload) -> list[Finding]:
    findings = []
    services = [
        s
        for s in by_kind(objects, "Service").values()
        if s["spec"].get("selector")
        and selects({"matchLabels": s["spec"]["selector"]}, portal.pod_labels)
    ]
    if not services:
        return [Finding(f"{unit}/deployment/bbp-portal", "no Service selects the portal")]
    names = {s["metadata"]["name"] for s in services}
    for s in services:
        for port in s["spec"].get("ports") or []:
            if port.get("targetPort") not in ("http", portal.named_ports().get("http")):
                findings.append(
                    Finding(
                        f"{unit}/service/{s['metadata']['name']}",
                        "exposes a port other than the portal's web port",
                    )
                )
    ingresses = [
        i
        for i in by_kind(objects, "Ingress").values()
        if any(
            (p.get("backend") or {}).get("service", {}).get("name") in names
            for r in i["spec"].get("rules") or []
            for p in (r.get("http") or {}).get("paths") or []
        )
    ]
    if not ingresses:
        findings.append(Finding(f"{unit}/deployment/bbp-portal", "no Ingress routes to the portal"))
    for ing in ingresses:
        tls_hosts = {
            h
            for t in ing["spec"].get("tls") or []
            for h in t.get("hosts") or []
            if t.get("secretName")
        }
        for rule in ing["spec"].get("rules") or []:
            if rule.get("host") not in tls_hosts:
                findings.append(
                    Finding(
                        f"{unit}/ingress/{ing['metadata']['name']}",
                        f"host {rule.get('host')!r} is not covered by TLS",
                    )
                )
    return findings


def check_release(units: Mapping[str, list[dict]]) -> list[Finding]:
    """An overlay and its migrate/ Job use the same release (tag) of our images."""
    findings = []
    for name, objects in units.items():
        if not name.endswith("/migrate") or name.split("/")[0] not in units:
            continue
        main = units[name.split("/")[0]]

        def tags(objs: list[dict]) -> set[str]:
            return {
                c["image"].split("@")[0].split("/")[-1].partition(":")[2]
                for w in workloads(objs)
                if w.component in (*SERVICES, "migrate")
                for c in w.containers
            }

        if len(tags(main) | tags(objects)) != 1:
            findings.append(
                Finding(
                    name,
                    "the migration Job and the services use different releases: "
                    f"{sorted(tags(main) | tags(objects))}",
                )
            )
        jobs = [w for w in workloads(objects) if w.kind == "Job" and w.component == "migrate"]
        if not jobs:
            findings.append(Finding(name, "no migration Job"))
        for job in jobs:
            env_sources = [r for c in job.containers for r in c.get("envFrom") or []]
            if not any("secretRef" in r for r in env_sources):
                findings.append(
                    Finding(name, "the migration Job reads no Secret (BBP_DATABASE_URL)")
                )
        main_ns = {o["metadata"].get("namespace") for o in main if o["kind"] != "Namespace"}
        if {o["metadata"].get("namespace") for o in objects} != main_ns:
            findings.append(Finding(name, "the migration Job is not in the overlay's namespace"))
    return findings
