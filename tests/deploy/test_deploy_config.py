"""Settings and secrets: no Secret with data committed or rendered, no credential in a
ConfigMap, the services' required settings provided; and the Docker Compose file."""

from __future__ import annotations

import shutil

import pytest
import yaml
from deploycheck.base import ROOT, SERVICES, find_object
from deploycheck.compose import check_compose
from deploycheck.config import (
    PLACEHOLDER_VALUE,
    check_configmaps,
    check_no_secrets_rendered,
    check_secret_files,
    check_settings,
    secret_examples,
)
from deploycheck.dockerfiles import dockerfiles

pytestmark = pytest.mark.unit


def test_no_secret_is_committed_or_rendered(units):
    findings = check_secret_files(ROOT)
    for unit, objects in units.items():
        findings += check_no_secrets_rendered(objects, unit)
        findings += check_configmaps(objects, unit)
    assert not findings, "\n".join(map(str, findings))


def test_each_service_has_a_secret_example_with_placeholders_only():
    examples = secret_examples(ROOT)
    assert set(examples) == {f"bbp-{s}-secrets" for s in (*SERVICES, "migrate")}
    for example in examples.values():
        assert "data" not in example
        assert example["stringData"]["BBP_DATABASE_URL"].startswith("<")
        assert all(PLACEHOLDER_VALUE.match(v) for v in example["stringData"].values())


def test_the_paying_wallet_is_in_the_communicators_secret_only():
    examples = secret_examples(ROOT)
    wallet = {k for k in examples["bbp-communicator-secrets"]["stringData"] if "PAYER" in k}
    assert wallet, "the communicator's Secret names the paying wallet"
    for name, example in examples.items():
        if name != "bbp-communicator-secrets":
            assert not wallet & set(example["stringData"]), name


def test_settings_match_the_services_settings_classes(units):
    findings = check_settings(units, ROOT)
    assert not findings, "\n".join(map(str, findings))


def _tree(tmp_path):
    shutil.copytree(ROOT / "deploy", tmp_path / "deploy")
    return tmp_path


def test_a_secret_with_real_values_is_caught(tmp_path):
    root = _tree(tmp_path)
    (root / "deploy/k8s/base/portal/oops.yaml").write_text(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: x}\n"
        "stringData: {BBP_DATABASE_URL: 'mysql+pymysql://u:hunter2@db/bbp'}\n"
    )
    example = root / "deploy/k8s/base/scheduler/secret.example.yaml"
    example.write_text(example.read_text().replace('"<mysql+pymysql', '"mysql+pymysql'))
    messages = "\n".join(map(str, check_secret_files(root)))
    assert "oops.yaml: a Secret outside a *.example.yaml file" in messages
    assert "oops.yaml: BBP_DATABASE_URL is not a <placeholder>" in messages
    assert "scheduler/secret.example.yaml: BBP_DATABASE_URL is not a <placeholder>" in messages


def test_applying_an_example_or_generating_a_secret_is_caught(tmp_path):
    root = _tree(tmp_path)
    kfile = root / "deploy/k8s/base/portal/kustomization.yaml"
    k = yaml.safe_load(kfile.read_text())
    k["resources"].append("secret.example.yaml")
    k["secretGenerator"] = [{"name": "bbp-portal-secrets", "literals": ["A=b"]}]
    kfile.write_text(yaml.safe_dump(k))
    messages = "\n".join(map(str, check_secret_files(root)))
    assert "applies an example file" in messages
    assert "secretGenerator" in messages


def test_a_rendered_secret_and_a_password_in_a_configmap_are_caught(fresh):
    objects = fresh("dev")
    objects.append({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}})
    find_object(objects, "ConfigMap", "bbp-portal")["data"].update(
        BBP_AMQP_URL="amqp://bbp:hunter2@rabbit/bbp", BBP_SMTP_PASSWORD="x"
    )
    messages = "\n".join(
        map(str, check_no_secrets_rendered(objects, "dev") + check_configmaps(objects, "dev"))
    )
    assert "a Secret is rendered" in messages
    assert "BBP_AMQP_URL holds a URL with a password" in messages
    assert "BBP_SMTP_PASSWORD looks like a secret" in messages


def test_a_secret_setting_in_a_configmap_or_a_typo_is_caught(fresh, units):
    objects = fresh("prod")
    find_object(objects, "ConfigMap", "bbp-portal")["data"].update(
        BBP_DATABASE_URL="mysql+pymysql://db/bbp", BBP_PORTAL_WORKRES="4"
    )
    messages = "\n".join(map(str, check_settings({**units, "prod": objects}, ROOT)))
    assert "BBP_DATABASE_URL is a secret setting but comes from a ConfigMap" in messages
    assert "BBP_PORTAL_WORKRES is not a setting of the portal" in messages


def test_a_required_setting_missing_is_caught(tmp_path, units):
    root = _tree(tmp_path)
    shutil.copytree(ROOT / "services/portal", root / "services/portal")
    example = root / "deploy/k8s/base/portal/secret.example.yaml"
    lines = [x for x in example.read_text().splitlines() if "BBP_AMQP_URL" not in x]
    example.write_text("\n".join(lines) + "\n")
    messages = "\n".join(map(str, check_settings(units, root)))
    assert "required setting BBP_AMQP_URL is in neither" in messages
    assert "secret setting BBP_AMQP_URL is missing from its Secret example" in messages


# ---- Docker Compose ----------------------------------------------------------------------


def test_compose_is_complete_and_consistent():
    findings = check_compose(ROOT)
    assert not findings, "\n".join(map(str, findings))


def test_compose_spelled_out():
    doc = yaml.safe_load((ROOT / "deploy/compose.yaml").read_text())
    s = doc["services"]
    assert s["mysql"]["image"].startswith("mysql:8.")
    assert s["rabbitmq"]["image"].endswith("-management")
    assert s["redis"]["image"].startswith("redis:")
    assert s["migrate"]["depends_on"]["mysql"]["condition"] == "service_healthy"
    assert s["migrate"]["restart"] == "no"
    for name in SERVICES:
        assert s[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert s[name]["read_only"] is True
        assert "/tmp" in s[name]["tmpfs"]
        assert "mysql:3306" in s[name]["environment"]["BBP_DATABASE_URL"]
        assert s[name]["env_file"] == ["../dev.env"]
    assert any(t.startswith("/run/prometheus") for t in s["portal"]["tmpfs"])
    published = [p for svc in s.values() for p in svc.get("ports", [])]
    assert all(p.startswith("127.0.0.1:") for p in published), "laptop only"


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        (lambda s: s.pop("redis"), "no service redis"),
        (lambda s: s["rabbitmq"].update(image="rabbitmq:3.9.29-management"), "RabbitMQ ≥ 3.10"),
        (lambda s: s["mysql"].update(image="mysql:8"), "not pinned"),
        (lambda s: s["mysql"].pop("healthcheck"), "mysql has no healthcheck"),
        (lambda s: s["portal"]["depends_on"].pop("migrate"), "does not wait for the migrations"),
        (
            lambda s: s["scheduler"].update(
                environment={"BBP_AMQP_URL": "amqp://guest:guest@rabbitmq:5672/%2F"}
            ),
            "BBP_DATABASE_URL=mysql+pymysql://root@127.0.0.1",
        ),
        (lambda s: s["communicator"].pop("read_only"), "not read_only"),
        (lambda s: s["portal"]["build"].update(dockerfile="nope/Dockerfile"), "no Dockerfile"),
        (lambda s: s["portal"]["build"].update(target="portl"), "'portl' is not one of the images"),
        (lambda s: s["portal"]["build"].pop("target"), "no build target"),
    ],
)
def test_a_broken_compose_file_is_caught(tmp_path, breakage, expected):
    root = _tree(tmp_path)
    shutil.copy(ROOT / "dev.env", root / "dev.env")
    for path in dockerfiles(ROOT):
        target = root / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    compose = root / "deploy/compose.yaml"
    doc = yaml.safe_load(compose.read_text())
    breakage(doc["services"])
    compose.write_text(yaml.safe_dump(doc))
    findings = check_compose(root)
    assert any(expected in str(f) for f in findings), findings
