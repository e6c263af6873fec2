"""The Kubernetes manifests: every render validates, the services have what issue 10 asks, and
each rule catches a manifest that breaks it. (The workload rules: test_deploy_workloads.py.)"""

from __future__ import annotations

import pytest
from deploycheck.base import KUSTOMIZATIONS, ROOT, SERVICES, Finding, find_object, workloads
from deploycheck.render import render_all_once, validate_schemas
from deploycheck.services import check_release, check_services

pytestmark = pytest.mark.unit

UNITS = tuple(KUSTOMIZATIONS)
MAIN = ("dev", "prod")


def _messages(findings: list[Finding]) -> str:
    return "\n".join(map(str, findings))


@pytest.mark.parametrize("unit", UNITS)
def test_every_object_validates_strictly_against_the_pinned_kubernetes_schemas(units, unit):
    assert units[unit], f"{unit} rendered nothing"
    findings = validate_schemas(units[unit], unit)
    assert not findings, _messages(findings)


def _workload_params() -> list[tuple[str, str]]:
    rendered = render_all_once(ROOT)
    return [(unit, w.name) for unit in UNITS for w in workloads(rendered[unit])]


@pytest.fixture(scope="module")
def by_unit(units):
    return {unit: {w.name: w for w in workloads(units[unit])} for unit in UNITS}


@pytest.mark.parametrize(("unit", "name"), _workload_params())
def test_workload_spelled_out(by_unit, unit, name):
    """The same rules, written out per workload so a failure names it plainly."""
    w = by_unit[unit][name]
    pod_sc = w.pod_spec["securityContext"]
    assert pod_sc["runAsNonRoot"] is True
    assert pod_sc["runAsUser"] != 0
    assert pod_sc["seccompProfile"]["type"] == "RuntimeDefault"
    assert w.pod_spec["automountServiceAccountToken"] is False
    for c in w.containers:
        sc = c["securityContext"]
        assert sc["runAsNonRoot"] is True
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"]["drop"] == ["ALL"]
        assert "add" not in sc["capabilities"]
        for section in ("requests", "limits"):
            assert set(c["resources"][section]) >= {"cpu", "memory"}
        if w.kind == "Deployment":
            assert c["livenessProbe"]["httpGet"]["path"]
            assert c["readinessProbe"]["httpGet"]["path"]
        # Whatever the process writes goes to a mounted emptyDir, never the image.
        mounts = {m["mountPath"] for m in c.get("volumeMounts", [])}
        assert "/tmp" in mounts


@pytest.mark.parametrize("unit", MAIN)
def test_the_services_have_what_issue_10_asks(units, unit):
    findings = check_services(units[unit], unit)
    assert not findings, _messages(findings)


@pytest.mark.parametrize("unit", MAIN)
def test_services_spelled_out(units, unit):
    objects = units[unit]
    portal = find_object(objects, "Deployment", "bbp-portal")["spec"]["template"]["spec"]
    container = portal["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    ingress = find_object(objects, "Ingress", "bbp-portal")["spec"]
    assert ingress["tls"][0]["secretName"] == "bbp-portal-tls"
    assert {r["host"] for r in ingress["rules"]} <= set(ingress["tls"][0]["hosts"])
    assert find_object(objects, "Service", "bbp-portal")["spec"]["type"] == "ClusterIP"
    scheduler = find_object(objects, "Deployment", "bbp-scheduler")["spec"]
    assert scheduler["replicas"] == 2
    hpa = find_object(objects, "HorizontalPodAutoscaler", "bbp-communicator")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"]["name"] == "bbp-communicator"
    assert "replicas" not in find_object(objects, "Deployment", "bbp-communicator")["spec"]
    for svc in SERVICES:
        find_object(objects, "PodDisruptionBudget", f"bbp-{svc}")
        tmpl = find_object(objects, "Deployment", f"bbp-{svc}")["spec"]["template"]
        assert tmpl["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
        assert tmpl["spec"]["terminationGracePeriodSeconds"] >= 30
        assert tmpl["metadata"]["labels"]["app.kubernetes.io/part-of"] == "bbp"


def test_the_sandbox_is_in_dev_only(units):
    assert any(w.component == "sandbox" for w in workloads(units["dev"]))
    assert not any(w.component == "sandbox" for w in workloads(units["prod"]))


def test_overlays_point_the_services_at_the_right_mobiquity(units):
    dev = find_object(units["dev"], "ConfigMap", "bbp-communicator")["data"]
    prod = find_object(units["prod"], "ConfigMap", "bbp-communicator")["data"]
    assert dev["BBP_MOBIQUITY_BASE_URL"].startswith("http://bbp-sandbox:")
    assert "sandbox" not in prod["BBP_MOBIQUITY_BASE_URL"]


@pytest.mark.parametrize("unit", ("dev/migrate", "prod/migrate"))
def test_the_migration_job_runs_alembic_from_the_release_of_its_overlay(units, unit):
    job = find_object(units[unit], "Job", "bbp-migrate")
    assert job["spec"]["backoffLimit"] == 0
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["upgrade", "head"]
    assert container["image"].split("/")[-1].startswith("migrate:")
    assert not check_release(units), _messages(check_release(units))


# ---- each rule catches its breakage ------------------------------------------------------


def _portal(objects: list[dict]) -> dict:
    return find_object(objects, "Deployment", "bbp-portal")["spec"]["template"]["spec"]


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        (lambda o: o.remove(find_object(o, "PodDisruptionBudget", "bbp-portal")), "PodDisruption"),
        (lambda o: _portal(o).pop("affinity"), "anti-affinity"),
        (lambda o: _portal(o).pop("terminationGracePeriodSeconds"), "terminationGrace"),
        (lambda o: _portal(o).update(terminationGracePeriodSeconds=20), "< preStop"),
        (
            lambda o: find_object(o, "Deployment", "bbp-portal")["spec"]["template"]["metadata"][
                "annotations"
            ].update({"prometheus.io/port": "8000"}),
            "not the container port named metrics",
        ),
        (lambda o: o.remove(find_object(o, "Ingress", "bbp-portal")), "no Ingress"),
        (lambda o: find_object(o, "Ingress", "bbp-portal")["spec"].pop("tls"), "not covered"),
        (
            lambda o: find_object(o, "Deployment", "bbp-scheduler")["spec"].update(replicas=1),
            "not 2",
        ),
        (
            lambda o: o.remove(find_object(o, "HorizontalPodAutoscaler", "bbp-communicator")),
            "HorizontalPodAutoscaler",
        ),
        (
            lambda o: find_object(o, "ConfigMap", "bbp-portal")["data"].update(
                BBP_PORTAL_PORT="8080"
            ),
            "but the container port is 8000",
        ),
        (
            lambda o: _portal(o)["containers"][0]["envFrom"].append(
                {"secretRef": {"name": "bbp-undocumented"}}
            ),
            "has no secret.example.yaml",
        ),
    ],
)
def test_a_service_missing_a_piece_is_reported(fresh, breakage, expected):
    objects = fresh("prod")
    breakage(objects)
    findings = check_services(objects, "prod")
    assert any(expected in f.message for f in findings), findings


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        (lambda d: d["spec"].update(replica=3), "Additional properties"),
        (lambda d: d["spec"].update(replicas="three"), "replicas"),
        (lambda d: d["spec"]["template"]["spec"]["containers"][0].pop("name"), "name"),
        (lambda d: d.update(apiVersion="apps/v1beta1"), "no schema"),
    ],
)
def test_a_broken_manifest_fails_schema_validation(fresh, breakage, expected):
    objects = fresh("dev")
    breakage(find_object(objects, "Deployment", "bbp-scheduler"))
    findings = validate_schemas(objects, "dev")
    assert any(expected in f.message for f in findings), findings


def test_an_object_of_an_unknown_kind_is_an_error_not_a_warning(fresh):
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    objects = [*fresh("dev"), widget]
    assert any("no schema" in f.message for f in validate_schemas(objects, "dev"))


def test_the_migration_job_of_another_release_is_caught(units, fresh):
    prod, migrate = fresh("prod"), fresh("prod/migrate")
    for i, obj in enumerate([*prod, *migrate]):
        for w in workloads([obj]):
            for c in w.containers:
                c["image"] += f"@sha256:{i:064x}"  # digests differ per image: that is fine
    assert not check_release({"prod": prod, "prod/migrate": migrate})
    job = find_object(migrate, "Job", "bbp-migrate")["spec"]["template"]["spec"]
    job["containers"][0]["image"] = "registry.example.invalid/bbp/migrate:0.0.9"
    findings = check_release({"prod": prod, "prod/migrate": migrate})
    assert any("different releases" in f.message for f in findings), findings
