"""NetworkPolicies, evaluated (not just read): a small model of Kubernetes' semantics
(``allowed``) asked who may reach whom — every pod isolated, DNS for all, each external
endpoint reachable by exactly the services that call it, the portal's web port only from the
ingress controller, metrics only from the monitoring namespace."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from deploycheck.base import Finding, Workload, by_kind, selects, workloads

# The namespaces the NetworkPolicies admit traffic from (see deploy/README.md to change them).
INGRESS_NAMESPACE = "ingress-nginx"


MONITORING_NAMESPACE = "monitoring"


# Who may reach each external endpoint (NetworkPolicy annotation `bbp/endpoint`), by the
# pods' app.kubernetes.io/component label.
EXPECTED_EGRESS: dict[str, set[str]] = {
    "mobiquity": {"portal", "communicator"},
    "smtp": {"communicator"},
    "sms-gateway": {"communicator"},
    "sandbox": {"portal", "communicator"},
    "mysql": {"portal", "scheduler", "communicator", "migrate"},
    "rabbitmq": {"portal", "scheduler", "communicator"},
    "redis": {"portal", "scheduler", "communicator"},
}


REQUIRED_ENDPOINTS = {
    "dev": {"mysql", "rabbitmq", "redis", "sandbox"},
    "prod": {"mysql", "rabbitmq", "redis", "mobiquity", "smtp", "sms-gateway"},
}


# An address no policy names: nobody may reach it on these ports.
UNKNOWN_EXTERNAL_IP = "203.0.113.200"


COMMON_EXTERNAL_PORTS = (25, 80, 443, 465, 587, 8080, 8443)


@dataclass(frozen=True)
class Peer:
    """One end of a connection: a pod (namespace, labels, named ports) or an outside address."""

    name: str
    namespace: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    ports: Mapping[str, int] = field(default_factory=dict)
    ip: str | None = None

    @property
    def namespace_labels(self) -> dict[str, str]:
        return {"kubernetes.io/metadata.name": self.namespace} if self.namespace else {}


def pod(
    name: str,
    namespace: str,
    labels: Mapping[str, str] | None = None,
    ports: Mapping[str, int] | None = None,
) -> Peer:
    return Peer(name, namespace, dict(labels or {}), dict(ports or {}))


def outside(ip: str) -> Peer:
    return Peer(ip, ip=ip)


def _policy_types(policy: dict) -> set[str]:
    spec = policy.get("spec") or {}
    if spec.get("policyTypes"):
        return set(spec["policyTypes"])
    return {"Ingress"} | ({"Egress"} if "egress" in spec else set())


def _peer_matches(rule_peer: dict, policy_ns: str, other: Peer) -> bool:
    if "ipBlock" in rule_peer:
        # Pod addresses are not matched by ipBlock here (CNI-dependent in reality; the
        # checks stay on the safe side by giving pods no address).
        if other.ip is None:
            return False
        block = rule_peer["ipBlock"]
        address = ipaddress.ip_address(other.ip)
        if address not in ipaddress.ip_network(block["cidr"], strict=False):
            return False
        return not any(
            address in ipaddress.ip_network(e, strict=False) for e in block.get("except") or []
        )
    if other.namespace is None:
        return False
    ns_selector = rule_peer.get("namespaceSelector")
    if ns_selector is None:
        ns_ok = other.namespace == policy_ns
    else:
        ns_ok = selects(ns_selector, other.namespace_labels)
    return ns_ok and selects(rule_peer.get("podSelector"), other.labels)


def _port_matches(
    rule_ports: list[dict] | None, port: int, protocol: str, named: Mapping[str, int]
) -> bool:
    if not rule_ports:
        return True
    for p in rule_ports:
        if p.get("protocol", "TCP") != protocol:
            continue
        if "port" not in p:
            return True
        value = p["port"]
        if isinstance(value, str) and not value.isdigit():
            if named.get(value) == port:
                return True
        elif int(value) <= port <= int(p.get("endPort", value)):
            return True
    return False


def allowed(policies: list[dict], src: Peer, dst: Peer, port: int, protocol: str = "TCP") -> bool:
    """Would a connection src → dst:port/protocol pass every NetworkPolicy in `policies`?"""
    for direction, me, other, rules_key, peers_key in (
        ("Egress", src, dst, "egress", "to"),
        ("Ingress", dst, src, "ingress", "from"),
    ):
        if me.namespace is None:
            continue
        selecting = [
            p
            for p in policies
            if p["metadata"].get("namespace") == me.namespace
            and direction in _policy_types(p)
            and selects(p["spec"].get("podSelector"), me.labels)
        ]
        if not selecting:
            continue  # not isolated in this direction
        named = dst.ports
        if not any(
            (
                not rule.get(peers_key)
                or any(
                    _peer_matches(x, p["metadata"].get("namespace"), other) for x in rule[peers_key]
                )
            )
            and _port_matches(rule.get("ports"), port, protocol, named)
            for p in selecting
            for rule in p["spec"].get(rules_key) or []
        ):
            return False
    return True


def _first_host(cidr: str) -> str:
    net = ipaddress.ip_network(cidr, strict=False)
    return str(next(iter(net.hosts()), net.network_address))


# The outside world's pods every overlay is checked against.
INGRESS_CONTROLLER = pod(
    "ingress-controller", INGRESS_NAMESPACE, {"app.kubernetes.io/name": "ingress-nginx"}
)
PROMETHEUS = pod("prometheus", MONITORING_NAMESPACE, {"app.kubernetes.io/name": "prometheus"})
STRANGER = pod("a pod of another namespace", "default", {"app": "other"})
KUBE_DNS = pod("kube-dns", "kube-system", {"k8s-app": "kube-dns"})


@dataclass(frozen=True)
class _World:
    """One overlay's policies, its pods by component, and the pods of the outside world."""

    unit: str
    policies: list[dict]
    peers: dict[str, Peer]

    def others(self, component: str) -> list[Peer]:
        return [p for c, p in self.peers.items() if c != component]

    def only_from(
        self, dst: str, port: int, what: str, allowed_from: Iterable[Peer], denied: Iterable[Peer]
    ) -> list[Finding]:
        """``what`` (port ``port`` of ``dst``) reachable from each allowed peer, no denied one."""
        where, me = f"{self.unit}/{dst}", self.peers[dst]
        return [
            Finding(where, f"{src.name} ({src.namespace}) cannot reach {what}")
            for src in allowed_from
            if not allowed(self.policies, src, me, port)
        ] + [
            Finding(where, f"{src.name} ({src.namespace}) can reach {what}")
            for src in denied
            if allowed(self.policies, src, me, port)
        ]


def check_network(
    objects: list[dict], unit: str, extra_workloads: Iterable[Workload] = ()
) -> list[Finding]:
    """The traffic rules of issue 10, by evaluating the NetworkPolicies of a main overlay."""
    ws = [*workloads(objects), *extra_workloads]
    if not ws:
        return [Finding(unit, "no workloads")]
    namespace = ws[0].namespace or "default"
    world = _World(
        unit,
        list(by_kind(objects, "NetworkPolicy").values()),
        {
            w.component: pod(w.component, w.namespace or namespace, w.pod_labels, w.named_ports())
            for w in ws
        },
    )
    return [*_check_isolation(world), *_check_endpoints(world), *_check_inbound(world, ws)]


def _check_isolation(world: _World) -> list[Finding]:
    """Every pod isolated both ways, able to resolve names, and no wider egress than named."""
    findings: list[Finding] = []
    for comp, me in world.peers.items():
        where = f"{world.unit}/{comp}"
        for direction in ("Ingress", "Egress"):
            if not any(
                direction in _policy_types(p) and selects(p["spec"].get("podSelector"), me.labels)
                for p in world.policies
            ):
                findings.append(
                    Finding(where, f"not isolated for {direction} (no NetworkPolicy selects it)")
                )
        for proto in ("UDP", "TCP"):
            if not allowed(world.policies, me, KUBE_DNS, 53, proto):
                findings.append(
                    Finding(where, f"cannot reach DNS (kube-system/kube-dns:53/{proto})")
                )
        for port in COMMON_EXTERNAL_PORTS:
            if allowed(world.policies, me, outside(UNKNOWN_EXTERNAL_IP), port):
                findings.append(
                    Finding(where, f"may reach any address on port {port} (egress is not narrowed)")
                )
    return findings


def _check_endpoints(world: _World) -> list[Finding]:
    """Each external endpoint (annotation bbp/endpoint) reachable by exactly its callers."""
    findings: list[Finding] = []
    present = set()
    for policy in world.policies:
        endpoint = (policy["metadata"].get("annotations") or {}).get("bbp/endpoint")
        if not endpoint:
            continue
        present.add(endpoint)
        where = f"{world.unit}/networkpolicy/{policy['metadata']['name']}"
        expected = EXPECTED_EGRESS.get(endpoint)
        if expected is None:
            findings.append(Finding(where, f"unknown endpoint {endpoint!r}"))
            continue
        expected = expected & set(world.peers)
        for target, port in _endpoint_samples(policy, world.peers):
            callers = {
                comp
                for comp, me in world.peers.items()
                if allowed(world.policies, me, target, port)
            }
            if callers != expected:
                findings.append(
                    Finding(
                        where,
                        f"{endpoint} ({target.name}:{port}) is reachable from "
                        f"{sorted(callers) or 'nobody'}, expected {sorted(expected)}",
                    )
                )
    for endpoint in sorted(REQUIRED_ENDPOINTS.get(world.unit, set()) - present):
        findings.append(
            Finding(
                world.unit,
                f"no NetworkPolicy opens the {endpoint} endpoint (annotation bbp/endpoint)",
            )
        )
    return findings


def _check_inbound(world: _World, ws: list[Workload]) -> list[Finding]:
    """The portal's web port from the ingress controller only; metrics from monitoring only;
    any other port from none of the outside peers."""
    findings: list[Finding] = []
    ingress_ctl, prometheus, stranger = INGRESS_CONTROLLER, PROMETHEUS, STRANGER
    portal = world.peers.get("portal")
    web = portal.ports.get("http") if portal else None
    if portal is not None and web is None:
        findings.append(Finding(f"{world.unit}/portal", "no container port named http"))
    elif portal is not None and web is not None:
        findings += world.only_from(
            "portal",
            web,
            "the web port",
            [ingress_ctl],
            [prometheus, stranger, *world.others("portal")],
        )
    for w in ws:
        metrics = int(w.pod_annotations.get("prometheus.io/port", 0) or 0)
        if metrics:
            findings += world.only_from(
                w.component,
                metrics,
                f"the metrics port {metrics}",
                [prometheus],
                [ingress_ctl, stranger, *world.others(w.component)],
            )
        exposed = set(world.peers[w.component].ports.values()) - {metrics}
        exposed -= {web} if w.component == "portal" else set()
        for port in sorted(exposed):
            findings += world.only_from(
                w.component, port, f"port {port}", [], [ingress_ctl, prometheus, stranger]
            )
    return findings


def _endpoint_samples(policy: dict, peers: Mapping[str, Peer]) -> Iterator[tuple[Peer, int]]:
    """Destinations a policy opens: each address range and pod it names, on each of its ports."""
    for rule in policy["spec"].get("egress") or []:
        targets: list[Peer] = []
        for peer in rule.get("to") or []:
            if "ipBlock" in peer:
                targets.append(outside(_first_host(peer["ipBlock"]["cidr"])))
            else:
                ns = policy["metadata"].get("namespace")
                targets += [p for p in peers.values() if _peer_matches(peer, ns, p)]
        if not rule.get("to"):
            targets.append(outside(UNKNOWN_EXTERNAL_IP))
        for target in targets:
            ports = [
                (target.ports.get(p["port"]) if isinstance(p.get("port"), str) else p.get("port"))
                for p in rule.get("ports") or []
            ]
            if not ports:
                ports = list(target.ports.values()) or [443]
            for port in ports:
                if port is not None:
                    yield target, int(port)
