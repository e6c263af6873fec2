"""NetworkPolicies, evaluated: who may talk to whom in each overlay (issue 10's list), and
that a policy opening too much (or too little) is caught."""

from __future__ import annotations

import pytest
from deploycheck.base import find_object, workloads
from deploycheck.network import (
    INGRESS_NAMESPACE,
    MONITORING_NAMESPACE,
    allowed,
    check_network,
    outside,
    pod,
)

pytestmark = pytest.mark.unit

MOBIQUITY, SMTP, SMS = "192.0.2.10", "192.0.2.25", "192.0.2.30"  # prod placeholders
MYSQL, RABBITMQ, REDIS = "198.51.100.1", "198.51.100.17", "198.51.100.33"


def _world(units, unit):
    objects = units[unit]
    ws = [*workloads(objects), *workloads(units[f"{unit}/migrate"])]
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
    peers = {w.component: pod(w.component, w.namespace, w.pod_labels, w.named_ports()) for w in ws}
    return policies, peers


@pytest.mark.parametrize("unit", ("dev", "prod"))
def test_the_network_rules_hold(units, unit):
    findings = check_network(units[unit], unit, extra_workloads=workloads(units[f"{unit}/migrate"]))
    assert not findings, "\n".join(map(str, findings))


def test_prod_egress_to_each_external_endpoint_spelled_out(units):
    policies, p = _world(units, "prod")

    def reach(component, ip, port):
        return allowed(policies, p[component], outside(ip), port)

    assert reach("portal", MOBIQUITY, 443)
    assert reach("communicator", MOBIQUITY, 443)
    assert not reach("scheduler", MOBIQUITY, 443)
    assert not reach("migrate", MOBIQUITY, 443)
    assert reach("communicator", SMTP, 587)
    assert not reach("portal", SMTP, 587)
    assert not reach("scheduler", SMTP, 587)
    assert reach("communicator", SMS, 443)
    assert not reach("portal", SMS, 443)
    for component in ("portal", "scheduler", "communicator"):
        assert reach(component, MYSQL, 3306)
        assert reach(component, RABBITMQ, 5671)
        assert reach(component, REDIS, 6379)
        assert not reach(component, "203.0.113.7", 443), "the internet at large"
        assert not reach(component, MYSQL, 22)
    assert reach("migrate", MYSQL, 3306)
    assert not reach("migrate", RABBITMQ, 5672)


def test_dev_sandbox_spelled_out(units):
    policies, p = _world(units, "dev")
    port = p["sandbox"].ports["mobiquity"]
    assert allowed(policies, p["portal"], p["sandbox"], port)
    assert allowed(policies, p["communicator"], p["sandbox"], port)
    assert not allowed(policies, p["scheduler"], p["sandbox"], port)
    assert not allowed(policies, p["migrate"], p["sandbox"], port)
    stranger = pod("x", "default", {"app": "x"})
    assert not allowed(policies, stranger, p["sandbox"], port)
    # dev reaches the datastores by port (any address) and nothing else outside.
    assert allowed(policies, p["scheduler"], outside("198.51.100.99"), 3306)
    assert not allowed(policies, p["portal"], outside("198.51.100.99"), 443)


@pytest.mark.parametrize("unit", ("dev", "prod"))
def test_inbound_spelled_out(units, unit):
    policies, p = _world(units, unit)
    ingress_ctl = pod("nginx", INGRESS_NAMESPACE, {"app.kubernetes.io/name": "ingress-nginx"})
    prometheus = pod("prometheus", MONITORING_NAMESPACE, {"app": "prometheus"})
    other_ns = pod("x", "default", {"app": "x"})
    web, metrics = p["portal"].ports["http"], p["portal"].ports["metrics"]
    assert allowed(policies, ingress_ctl, p["portal"], web)
    assert not allowed(policies, ingress_ctl, p["portal"], metrics)
    assert not allowed(policies, prometheus, p["portal"], web)
    assert allowed(policies, prometheus, p["portal"], metrics)
    assert not allowed(policies, other_ns, p["portal"], web)
    assert not allowed(policies, p["scheduler"], p["portal"], web)
    for worker in ("scheduler", "communicator"):
        port = p[worker].ports["metrics"]
        assert allowed(policies, prometheus, p[worker], port)
        assert not allowed(policies, ingress_ctl, p[worker], port)
        assert not allowed(policies, p["portal"], p[worker], port)
    dns = pod("kube-dns", "kube-system", {"k8s-app": "kube-dns"})
    for peer in p.values():
        assert allowed(policies, peer, dns, 53, "UDP")


# ---- the evaluator itself ----------------------------------------------------------------


def _policy(name, selector, *, ingress=None, egress=None, types=None, ns="bbp"):
    spec = {"podSelector": selector}
    if ingress is not None:
        spec["ingress"] = ingress
    if egress is not None:
        spec["egress"] = egress
    if types:
        spec["policyTypes"] = types
    return {"kind": "NetworkPolicy", "metadata": {"name": name, "namespace": ns}, "spec": spec}


def test_evaluator_semantics():
    a = pod("a", "bbp", {"role": "a"}, {"web": 8000})
    b = pod("b", "bbp", {"role": "b"})
    assert allowed([], a, b, 80), "no policy: not isolated"
    deny = _policy("deny", {}, types=["Ingress", "Egress"])
    assert not allowed([deny], a, b, 80)
    to_b = _policy("a-to-b", {"matchLabels": {"role": "a"}}, egress=[{"to": [{"podSelector": {}}]}])
    b_from_a = _policy(
        "b-from-a",
        {"matchLabels": {"role": "b"}},
        ingress=[{"from": [{"podSelector": {"matchLabels": {"role": "a"}}}]}],
    )
    assert not allowed([deny, to_b], a, b, 80), "egress alone is not enough"
    assert allowed([deny, to_b, b_from_a], a, b, 80)
    assert not allowed([deny, to_b, b_from_a], b, a, 80)
    named = _policy("a-web", {"matchLabels": {"role": "a"}}, ingress=[{"ports": [{"port": "web"}]}])
    assert allowed([named], b, a, 8000)
    assert not allowed([named], b, a, 8001)
    block = _policy(
        "ext",
        {},
        egress=[{"to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}]}],
        types=["Egress"],
    )
    assert allowed([block], a, outside("10.2.3.4"), 443)
    assert not allowed([block], a, outside("10.1.3.4"), 443)
    assert not allowed([block], a, b, 443), "ipBlock does not match pods here"
    other_ns = _policy(
        "from-ns",
        {},
        ingress=[{"from": [{"namespaceSelector": {"matchLabels": {"team": "x"}}}]}],
    )
    assert not allowed([other_ns], pod("c", "elsewhere"), a, 80)


# ---- each rule catches its breakage ------------------------------------------------------


def _check(objects, units, unit="prod"):
    return check_network(objects, unit, workloads(units[f"{unit}/migrate"]))


def test_an_allow_all_egress_is_caught(fresh, units):
    objects = fresh("prod")
    objects.append(_policy("oops", {}, egress=[{}], types=["Egress"]))
    messages = "\n".join(map(str, _check(objects, units)))
    assert "scheduler" in messages and "may reach any address" in messages
    assert "mobiquity" in messages and "'scheduler'" in messages


def test_mobiquity_opened_to_the_scheduler_is_caught(fresh, units):
    objects = fresh("prod")
    policy = find_object(objects, "NetworkPolicy", "bbp-egress-mobiquity")
    policy["spec"]["podSelector"] = {"matchLabels": {"app.kubernetes.io/part-of": "bbp"}}
    findings = _check(objects, units)
    assert any("mobiquity" in f.message and "scheduler" in f.message for f in findings), findings


def test_smtp_opened_to_the_portal_is_caught(fresh, units):
    objects = fresh("prod")
    policy = find_object(objects, "NetworkPolicy", "bbp-egress-smtp")
    policy["spec"]["podSelector"] = {
        "matchExpressions": [
            {
                "key": "app.kubernetes.io/component",
                "operator": "In",
                "values": ["portal", "communicator"],
            }
        ]
    }
    assert any("smtp" in f.message and "portal" in f.message for f in _check(objects, units))


def test_a_missing_default_deny_is_caught(fresh, units):
    objects = fresh("dev")
    objects.remove(find_object(objects, "NetworkPolicy", "bbp-default-deny"))
    messages = "\n".join(map(str, _check(objects, units, "dev")))
    assert "not isolated for Ingress" in messages


def test_metrics_open_to_everyone_is_caught(fresh, units):
    objects = fresh("prod")
    policy = find_object(objects, "NetworkPolicy", "bbp-scheduler-metrics")
    policy["spec"]["ingress"][0].pop("from")
    findings = _check(objects, units)
    assert any("can reach the metrics port" in f.message for f in findings), findings


def test_web_port_open_to_everyone_is_caught(fresh, units):
    objects = fresh("prod")
    find_object(objects, "NetworkPolicy", "bbp-portal-web")["spec"]["ingress"][0].pop("from")
    findings = _check(objects, units)
    assert any("can reach the web port" in f.message for f in findings), findings


def test_a_missing_endpoint_policy_is_caught(fresh, units):
    objects = fresh("prod")
    objects.remove(find_object(objects, "NetworkPolicy", "bbp-egress-sms-gateway"))
    findings = _check(objects, units)
    assert any("sms-gateway" in f.message for f in findings), findings


def test_dns_blocked_is_caught(fresh, units):
    objects = fresh("dev")
    objects.remove(find_object(objects, "NetworkPolicy", "bbp-egress-dns"))
    assert any("cannot reach DNS" in f.message for f in _check(objects, units, "dev"))


def test_sandbox_open_to_the_scheduler_is_caught(fresh, units):
    objects = fresh("dev")
    policy = find_object(objects, "NetworkPolicy", "bbp-sandbox-ingress")
    policy["spec"]["ingress"][0]["from"] = [{"podSelector": {}}]
    egress = find_object(objects, "NetworkPolicy", "bbp-egress-sandbox")
    egress["spec"]["podSelector"] = {}
    findings = _check(objects, units, "dev")
    assert any("sandbox" in f.message and "scheduler" in f.message for f in findings), findings


def test_web_and_metrics_ports_closed_to_their_callers_are_caught(fresh, units):
    objects = fresh("prod")
    objects.remove(find_object(objects, "NetworkPolicy", "bbp-portal-web"))
    objects.remove(find_object(objects, "NetworkPolicy", "bbp-scheduler-metrics"))
    messages = "\n".join(map(str, _check(objects, units)))
    assert "prod/portal: ingress-controller (ingress-nginx) cannot reach the web port" in messages
    assert "prod/scheduler: prometheus (monitoring) cannot reach the metrics port" in messages
