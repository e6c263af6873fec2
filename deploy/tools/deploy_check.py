"""Offline checks of everything under deploy/ (CI: `make deploy-check`; also used by tests/deploy).

    python deploy/tools/deploy_check.py                 # everything, as CI runs it
    python deploy/tools/deploy_check.py --only dev      # one overlay (and its migrate/ Job)
    python deploy/tools/deploy_check.py --release prod  # + fail on placeholders left to set

What it checks, without a cluster or a Docker engine:

1. Every Dockerfile (one: deploy/docker/Dockerfile, a target per image): hadolint
   (``.hadolint.yaml``), then our own rules — every base image pinned to a full version (or a
   digest); each image target, with what it inherits, a numeric non-root ``USER``, an
   exec-form ``ENTRYPOINT``, ``STOPSIGNAL SIGTERM``, ``PYTHONDONTWRITEBYTECODE=1``; pip only
   with ``-c constraints.txt`` and ``--no-cache-dir``, one base image for all.
2. Every kustomization renders (``kubectl kustomize``, the kubectl pinned in constraints.txt),
   without deprecation warnings.
3. Every rendered object validates, strictly (no unknown field), against the bundled
   OpenAPI schemas of each Kubernetes version in ``K8S_VERSIONS`` (kubernetes-validate); an
   object of a kind without a schema is an error, not a warning.
4. Every workload (Deployment, Job, …) in every render: requests and limits, probes (long-
   running ones), non-root, read-only root filesystem, no privilege escalation, every
   capability dropped, RuntimeDefault seccomp, no host namespaces or host paths, a pinned
   image, no service-account token.
5. The services: PDB, anti-affinity, Prometheus annotations on the metrics port, a grace
   period that covers the graceful stop, ConfigMaps and Secrets referenced (and the Secrets
   described by an example), the portal's Service and TLS Ingress, the communicator's HPA,
   the scheduler's two replicas, container ports matching the port settings.
6. NetworkPolicies, evaluated (not just read): every pod isolated; DNS for all; each external
   endpoint reachable by exactly the services that call it; the portal's web port only from
   the ingress controller's namespace; metrics ports only from the monitoring namespace.
7. Secrets: none rendered, example files hold placeholders only and are never applied; no
   credential in a ConfigMap; the settings the services require are provided, those typed
   secret only through Secrets (for each service whose settings class exists).
8. ``deploy/compose.yaml``: structure, pinned images, health checks, start order, settings.

Exit status 1 and one line per finding when anything fails.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]

# Kubernetes versions whose bundled schemas every object must satisfy (strict): the oldest
# kubernetes-validate ships (our minimum supported cluster) and the newest it ships.
K8S_VERSIONS = ("1.33.0", "1.37.0")

# Rendered units: name → kustomization folder (relative to the repository root). Each main
# overlay has a migrate/ kustomization holding the migration Job, applied first.
KUSTOMIZATIONS = {
    "dev": "deploy/k8s/overlays/dev",
    "dev/migrate": "deploy/k8s/overlays/dev/migrate",
    "prod": "deploy/k8s/overlays/prod",
    "prod/migrate": "deploy/k8s/overlays/prod/migrate",
}
SERVICES = ("portal", "scheduler", "communicator")

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

LONG_RUNNING = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"}
WORKLOAD_KINDS = LONG_RUNNING | {"Job", "CronJob", "Pod"}
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
SECRETISH_KEY = re.compile(r"(PASSWORD|PASSWD|SECRET|MPIN|PIN$|TOKEN|PRIVATE|_KEY$|CREDENTIAL)")
URL_WITH_PASSWORD = re.compile(r"://[^/@\s:]*:[^/@\s]+@")
PLACEHOLDER_VALUE = re.compile(r"^<[^<>]+>$")
PENDING_FILE = "deploy/k8s/pending-settings.txt"


@dataclass(frozen=True)
class Finding:
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


class CheckError(Exception):
    """A step could not run at all (a tool missing, a render failing)."""


# --------------------------------------------------------------------------------------------
# Tools


def tool(name: str) -> str:
    """The pinned tool from this venv (requirements-dev.txt), else the one on PATH."""
    venv = Path(sys.executable).parent / name
    if venv.is_file() and os.access(venv, os.X_OK):
        return str(venv)
    found = shutil.which(name)
    if not found:
        raise CheckError(f"{name} not found: run `make setup` (it comes from requirements-dev.txt)")
    return found


# --------------------------------------------------------------------------------------------
# Dockerfiles


def dockerfiles(root: Path = ROOT) -> list[Path]:
    found = [*root.glob("services/*/Dockerfile"), *root.glob("sandbox/Dockerfile")]
    found += [p for p in root.glob("deploy/**/Dockerfile") if ".venv" not in p.parts]
    return sorted(set(found))


def hadolint(paths: Iterable[Path], root: Path = ROOT) -> list[Finding]:
    paths = list(paths)
    if not paths:
        return []
    cmd = [tool("hadolint"), "--config", str(root / ".hadolint.yaml"), "--no-color"]
    cmd += ["--format", "json", *map(str, paths)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)  # noqa: S603
    try:
        results = json.loads(proc.stdout or "[]")
    except json.JSONDecodeError:
        return [Finding("hadolint", (proc.stdout + proc.stderr).strip() or "failed")]
    findings = [
        Finding(
            f"{_rel(Path(r['file']), root)}:{r['line']}",
            f"hadolint {r['code']} ({r['level']}): {r['message']}",
        )
        for r in results
    ]
    if proc.returncode and not findings:
        findings.append(Finding("hadolint", proc.stderr.strip() or f"exit {proc.returncode}"))
    return findings


def parse_dockerfile(text: str) -> list[tuple[str, str, int]]:
    """(INSTRUCTION, arguments, line) with continuations joined and comments dropped."""
    out: list[tuple[str, str, int]] = []
    buf, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if buf and line.startswith("#"):
            continue
        if not buf:
            start = number
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        word, _, rest = buf.strip().partition(" ")
        out.append((word.upper(), rest.strip(), start))
        buf = ""
    return out


_PIP_INSTALL = re.compile(r"(^|[\s/])pip3?\s+(\S+\s+)*?install\b|-m\s+pip\s+(\S+\s+)*?install\b")
_PINNED_IMAGE = re.compile(r"^[\w./-]+(:[\w.-]*\d+\.\d+\.\d+[\w.-]*)?(@sha256:[0-9a-f]{64})?$")


@dataclass
class Stage:
    """One ``FROM`` of a Dockerfile: its alias (lower case, or None), what it starts from."""

    name: str | None
    base: str
    line: int
    instructions: list[tuple[str, str, int]] = field(default_factory=list)


def stages(text: str) -> list[Stage]:
    found: list[Stage] = []
    for ins, args, line in parse_dockerfile(text):
        if ins == "FROM":
            parts = [p for p in args.split() if not p.startswith("--")]
            alias = parts[2].lower() if len(parts) >= 3 and parts[1].lower() == "as" else None
            found.append(Stage(alias, parts[0] if parts else "", line))
        elif found:
            found[-1].instructions.append((ins, args, line))
    return found


def targets(found: list[Stage]) -> list[Stage]:
    """The stages an image is built from: the last one, and every named stage that no other
    stage starts FROM or copies from (build steps and shared bases are not images)."""
    used = {s.base.lower() for s in found}
    for s in found:
        for ins, args, _ in s.instructions:
            match = re.match(r"--from=(\S+)", args) if ins == "COPY" else None
            if match:
                used.add(match.group(1).lower())
    return [s for i, s in enumerate(found) if i == len(found) - 1 or s.name not in used]


def _inherited(stage: Stage, found: list[Stage]) -> list[tuple[str, str, int]]:
    """The instructions an image built from ``stage`` has: its parent stages' first."""
    by_name = {s.name: s for s in found if s.name}
    chain = [stage]
    while chain[-1].base.lower() in by_name and len(chain) <= len(found):
        chain.append(by_name[chain[-1].base.lower()])
    return [i for s in reversed(chain) for i in s.instructions]


def check_dockerfile(path: Path, text: str | None = None, root: Path = ROOT) -> list[Finding]:
    text = path.read_text() if text is None else text
    where = _rel(path, root)
    found = stages(text)
    if not found:
        return [Finding(where, "no FROM")]
    findings: list[Finding] = []
    aliases = {s.name for s in found if s.name}
    for stage in found:
        if stage.base.lower() not in aliases and not _image_pinned(stage.base):
            findings.append(
                Finding(
                    f"{where}:{stage.line}",
                    f"base image {stage.base!r} is not pinned to a full version (X.Y.Z) "
                    "or a digest",
                )
            )
    for target in targets(found):
        findings += _check_target(target, _inherited(target, found), where)
    for ins, args, line in parse_dockerfile(text):
        if ins != "RUN":
            continue
        for command in re.split(r"&&|;|\|\|", args):
            if not _PIP_INSTALL.search(command):
                continue
            words = command.split()
            if "--no-cache-dir" not in words:
                findings.append(Finding(f"{where}:{line}", "pip install without --no-cache-dir"))
            if not any(w == "-c" or w.startswith(("--constraint", "-c")) for w in words):
                findings.append(
                    Finding(f"{where}:{line}", "pip install without -c constraints.txt")
                )
    return findings


def _check_target(target: Stage, final: list[tuple[str, str, int]], where: str) -> list[Finding]:
    """What every image must have, whichever stage set it."""
    findings = []
    label = f"target {target.name}" if target.name else "the final stage"
    at = f"{where}:{target.line}"
    users = [(a, n) for i, a, n in final if i == "USER"]
    if not users:
        findings.append(Finding(at, f"{label} sets no USER (it would run as root)"))
    elif not re.fullmatch(r"[1-9]\d*(:\d+)?", users[-1][0]):
        findings.append(
            Finding(
                f"{where}:{users[-1][1]}",
                f"USER {users[-1][0]!r} must be numeric and non-zero "
                "(runAsNonRoot checks a number)",
            )
        )
    entry = [(a, n) for i, a, n in final if i == "ENTRYPOINT"]
    if not entry:
        findings.append(Finding(at, f"{label} has no ENTRYPOINT"))
    elif not entry[-1][0].startswith("["):
        findings.append(
            Finding(
                f"{where}:{entry[-1][1]}",
                "ENTRYPOINT must be the exec form (JSON array): signals reach the process",
            )
        )
    if not any(i == "STOPSIGNAL" and a.upper() in ("SIGTERM", "15") for i, a, _ in final):
        findings.append(Finding(at, f"{label} has no STOPSIGNAL SIGTERM"))
    env_text = " ".join(a for i, a, _ in final if i == "ENV")
    if not re.search(r"(^|\s)PYTHONDONTWRITEBYTECODE=1(\s|$)", env_text):
        findings.append(
            Finding(at, f"{label} does not set PYTHONDONTWRITEBYTECODE=1 (read-only root)")
        )
    return findings


def _image_pinned(image: str) -> bool:
    if (
        not image
        or "$" in image
        or image.endswith(":latest")
        or (":" not in image.split("/")[-1] and "@" not in image)
    ):
        return False
    return bool(_PINNED_IMAGE.match(image))


def base_images(path: Path) -> list[str]:
    """External images a Dockerfile builds FROM (not its own stages)."""
    found = stages(path.read_text())
    aliases = {s.name for s in found if s.name}
    return [s.base for s in found if s.base.lower() not in aliases]


def check_dockerfiles(root: Path = ROOT, run_hadolint: bool = True) -> list[Finding]:
    paths = dockerfiles(root)
    findings: list[Finding] = []
    if not paths:
        return [Finding("Dockerfiles", "none found")]
    if run_hadolint:
        findings += hadolint(paths, root)
    for path in paths:
        findings += check_dockerfile(path, root=root)
    bases = {img for path in paths for img in base_images(path)}
    if len(bases) > 1:
        findings.append(
            Finding(
                "Dockerfiles",
                f"more than one base image: {sorted(bases)} — use one Python everywhere",
            )
        )
    return findings


# --------------------------------------------------------------------------------------------
# Rendering and schema validation


def render(folder: Path) -> list[dict[str, Any]]:
    """`kubectl kustomize folder` → the objects; CheckError on failure or a deprecation."""
    proc = subprocess.run(  # noqa: S603 - our pinned kubectl, our folders
        [tool("kubectl"), "kustomize", str(folder)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if proc.returncode:
        raise CheckError(f"kubectl kustomize {folder} failed:\n{proc.stderr.strip()}")
    if "deprecat" in proc.stderr.lower():
        raise CheckError(f"kubectl kustomize {folder} warns:\n{proc.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


def render_all(root: Path = ROOT, only: Iterable[str] | None = None) -> dict[str, list[dict]]:
    """Render every kustomization (in parallel: each is a kubectl process)."""
    wanted = set(only or ())
    names = [n for n in KUSTOMIZATIONS if not wanted or n.split("/")[0] in wanted]
    with ThreadPoolExecutor(max_workers=len(names) or 1) as pool:
        rendered = list(pool.map(lambda n: render(root / KUSTOMIZATIONS[n]), names))
    return dict(zip(names, rendered, strict=True))


@functools.cache
def render_all_once(root: Path = ROOT) -> dict[str, list[dict]]:
    """render_all, memoized (for the tests): treat the result as read-only."""
    return render_all(root)


@functools.cache
def _kv() -> Any:
    import kubernetes_validate.utils as kv

    # The schemas are plain JSON files read on every call: read each once.
    kv.schema_contents = functools.cache(kv.schema_contents)
    return kv


def validate_schemas(
    objects: list[dict], unit: str, versions: Iterable[str] = K8S_VERSIONS
) -> list[Finding]:
    kv = _kv()
    findings = []
    for obj in objects:
        where = f"{unit}/{_kn(obj)}"
        for version in versions:
            try:
                kv.validate(obj, version, strict=True)
            except kv.ValidationError as exc:
                path = ".".join(str(p) for p in exc.path) or "(root)"
                findings.append(
                    Finding(where, f"invalid for Kubernetes {version}: {path}: {exc.message}")
                )
            except kv.SchemaNotFoundError as exc:
                findings.append(
                    Finding(where, f"no schema (unknown kind/apiVersion): {exc.message}")
                )
            except kv.VersionNotSupportedError:
                raise CheckError(f"kubernetes-validate has no schemas for {version}") from None
            except Exception as exc:  # a malformed object (no kind, no apiVersion, …)
                findings.append(Finding(where, f"could not be validated: {exc!r}"))
    return findings


# --------------------------------------------------------------------------------------------
# Workloads


@dataclass
class Workload:
    kind: str
    name: str
    namespace: str | None
    obj: dict
    pod_spec: dict
    pod_labels: dict[str, str]
    pod_annotations: dict[str, str]

    @property
    def component(self) -> str:
        return self.pod_labels.get("app.kubernetes.io/component", self.name)

    @property
    def containers(self) -> list[dict]:
        return list(self.pod_spec.get("containers") or [])

    def all_containers(self) -> list[dict]:
        return self.containers + list(self.pod_spec.get("initContainers") or [])

    def named_ports(self) -> dict[str, int]:
        return {
            p["name"]: int(p["containerPort"])
            for c in self.containers
            for p in c.get("ports") or []
            if p.get("name")
        }


def workloads(objects: Iterable[dict]) -> list[Workload]:
    found = []
    for obj in objects:
        kind = obj.get("kind")
        if kind not in WORKLOAD_KINDS:
            continue
        spec = obj.get("spec") or {}
        if kind == "Pod":
            template = {"metadata": obj.get("metadata") or {}, "spec": spec}
        elif kind == "CronJob":
            template = ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}
        else:
            template = spec.get("template") or {}
        meta = template.get("metadata") or {}
        found.append(
            Workload(
                kind,
                obj["metadata"]["name"],
                obj["metadata"].get("namespace"),
                obj,
                template.get("spec") or {},
                dict(meta.get("labels") or {}),
                dict(meta.get("annotations") or {}),
            )
        )
    return found


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


# --------------------------------------------------------------------------------------------
# The services


def _by_kind(objects: Iterable[dict], kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in objects if o.get("kind") == kind}


def _selects(selector: Mapping | None, labels: Mapping[str, str]) -> bool:
    """Kubernetes LabelSelector semantics (an empty selector selects everything)."""
    selector = selector or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def _configmap_data(objects: list[dict], name: str) -> dict[str, str] | None:
    for cm in _by_kind(objects, "ConfigMap").values():
        if cm["metadata"]["name"] == name:
            return dict(cm.get("data") or {})
    return None


def _env_of(w: Workload, objects: list[dict], container: dict) -> dict[str, str]:
    """What a container's environment will hold from its ConfigMaps and plain env values."""
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        ref = source.get("configMapRef")
        if ref:
            env.update(_configmap_data(objects, ref["name"]) or {})
    for item in container.get("env") or []:
        if "value" in item:
            env[item["name"]] = str(item["value"])
    return env


def secret_examples(root: Path = ROOT) -> dict[str, dict]:
    """Secret name → example object, from every deploy/**/secret.example.yaml."""
    found = {}
    for path in sorted(root.glob("deploy/**/*.example.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "Secret":
                found[doc["metadata"]["name"]] = doc | {"_path": path}
    return found


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
    deployments = _by_kind(objects, "Deployment")
    pdbs = list(_by_kind(objects, "PodDisruptionBudget").values())
    examples = secret_examples(root)
    all_configmaps = {cm["metadata"]["name"] for cm in _by_kind(objects, "ConfigMap").values()}
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
        if not any(_selects(p["spec"].get("selector"), w.pod_labels) for p in pdbs):
            findings.append(Finding(where, "no PodDisruptionBudget selects its pods"))
        anti = (w.pod_spec.get("affinity") or {}).get("podAntiAffinity") or {}
        terms = [t.get("podAffinityTerm", t) for key in anti for t in anti[key] or []]
        if not any(_selects(t.get("labelSelector"), w.pod_labels) for t in terms):
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
        env = _env_of(w, objects, container)
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
                for h in _by_kind(objects, "HorizontalPodAutoscaler").values()
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
        env = _env_of(sandbox, objects, sandbox.containers[0])
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
        for s in _by_kind(objects, "Service").values()
        if s["spec"].get("selector")
        and _selects({"matchLabels": s["spec"]["selector"]}, portal.pod_labels)
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
        for i in _by_kind(objects, "Ingress").values()
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


# --------------------------------------------------------------------------------------------
# Secrets and ConfigMaps


def check_no_secrets_rendered(objects: list[dict], unit: str) -> list[Finding]:
    return [
        Finding(
            f"{unit}/secret/{o['metadata']['name']}",
            "a Secret is rendered: Secrets are created out of band, never committed",
        )
        for o in objects
        if o.get("kind") == "Secret"
    ]


def check_configmaps(objects: list[dict], unit: str) -> list[Finding]:
    findings = []
    for cm in _by_kind(objects, "ConfigMap").values():
        for key, value in (cm.get("data") or {}).items():
            where = f"{unit}/configmap/{cm['metadata']['name']}"
            if SECRETISH_KEY.search(key.upper()):
                findings.append(Finding(where, f"{key} looks like a secret: put it in the Secret"))
            if URL_WITH_PASSWORD.search(str(value)):
                findings.append(
                    Finding(where, f"{key} holds a URL with a password: put it in the Secret")
                )
        if cm.get("binaryData"):
            findings.append(
                Finding(f"{unit}/configmap/{cm['metadata']['name']}", "binaryData in a ConfigMap")
            )
    return findings


def check_secret_files(root: Path = ROOT) -> list[Finding]:
    """No Secret with data in deploy/; examples hold placeholders and are never applied."""
    findings = []
    for path in sorted(root.glob("deploy/**/*.y*ml")):
        where = _rel(path, root)
        try:
            docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
        except yaml.YAMLError as exc:
            findings.append(Finding(where, f"not YAML: {exc}"))
            continue
        for doc in docs:
            if not isinstance(doc, dict) or doc.get("kind") != "Secret":
                continue
            if not path.name.endswith(".example.yaml"):
                findings.append(Finding(where, "a Secret outside a *.example.yaml file"))
            if doc.get("data"):
                findings.append(
                    Finding(
                        where,
                        "a Secret with `data` (base64): examples use stringData placeholders",
                    )
                )
            for key, value in (doc.get("stringData") or {}).items():
                if not PLACEHOLDER_VALUE.match(str(value)):
                    findings.append(Finding(where, f"{key} is not a <placeholder>"))
    for kfile in root.glob("deploy/**/kustomization.yaml"):
        k = yaml.safe_load(kfile.read_text()) or {}
        listed = [*(k.get("resources") or []), *(k.get("components") or [])]
        listed += [p.get("path", "") for p in k.get("patches") or [] if isinstance(p, dict)]
        for gen in k.get("secretGenerator") or []:
            findings.append(
                Finding(
                    _rel(kfile, root),
                    f"secretGenerator {gen.get('name')}: Secrets are created out of band",
                )
            )
        for item in listed:
            if "example" in str(item):
                findings.append(Finding(_rel(kfile, root), f"applies an example file: {item}"))
    return findings


def pending_settings(root: Path = ROOT) -> set[str]:
    path = root / PENDING_FILE
    if not path.is_file():
        return set()
    return {
        line.split()[0]
        for line in path.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    }


@dataclass
class SettingsInfo:
    required: set[str] = field(default_factory=set)
    secret: set[str] = field(default_factory=set)
    known: set[str] = field(default_factory=set)


def _settings_info(module_name: str) -> SettingsInfo | None:
    """The environment variables a service's settings classes read, or None if not written yet."""
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    from pydantic import SecretStr
    from pydantic_settings import BaseSettings

    info = SettingsInfo()
    classes = [
        obj
        for obj in vars(module).values()
        if isinstance(obj, type)
        and issubclass(obj, BaseSettings)
        and obj is not BaseSettings
        and (obj.__module__ == module.__name__ or module_name == "bbp_common.settings")
    ]
    if not classes:
        return None
    for cls in classes:
        prefix = cls.model_config.get("env_prefix", "")
        for name, f in cls.model_fields.items():
            env = f"{prefix}{name}".upper()
            info.known.add(env)
            if f.is_required():
                info.required.add(env)
            if SecretStr in (f.annotation, *getattr(f.annotation, "__args__", ())):
                info.secret.add(env)
    return info


def check_settings(units: Mapping[str, list[dict]], root: Path = ROOT) -> list[Finding]:
    """ConfigMaps and Secrets against the services' settings classes (those that exist)."""
    findings: list[Finding] = []
    pending = pending_settings(root)
    examples = secret_examples(root)
    gunicorn_env = set(
        re.findall(r"BBP_[A-Z0-9_]+", (root / "services/portal/gunicorn.conf.py").read_text())
    )
    infos = {svc: _settings_info(f"bbp_{svc}.settings") for svc in SERVICES}
    common = _settings_info("bbp_common.settings") or SettingsInfo()
    known_anywhere = common.known | {k for i in infos.values() if i for k in i.known} | pending
    for unit, objects in units.items():
        if "/" in unit:
            continue
        for cm in _by_kind(objects, "ConfigMap").values():
            if cm["metadata"]["name"].startswith("bbp-common"):
                for key in cm.get("data") or {}:
                    if key not in known_anywhere:
                        findings.append(
                            Finding(
                                f"{unit}/configmap/bbp-common",
                                f"{key} is read by no settings class "
                                f"(typo? or add it to {PENDING_FILE})",
                            )
                        )
        by_name = {w.name: w for w in workloads(objects)}
        for svc in SERVICES:
            info, w = infos[svc], by_name.get(f"bbp-{svc}")
            if info is None or w is None:
                continue
            where = f"{unit}/deployment/bbp-{svc}"
            container = w.containers[0]
            configured = _env_of(w, objects, container)
            secret_keys: set[str] = set()
            for ref in container.get("envFrom") or []:
                if "secretRef" in ref:
                    secret_keys |= set(
                        (examples.get(ref["secretRef"]["name"]) or {}).get("stringData") or {}
                    )
            for key in sorted(info.required - configured.keys() - secret_keys):
                findings.append(
                    Finding(
                        where,
                        f"required setting {key} is in neither its ConfigMaps "
                        "nor its Secret example",
                    )
                )
            for key in sorted(info.secret & configured.keys()):
                findings.append(
                    Finding(where, f"{key} is a secret setting but comes from a ConfigMap")
                )
            for key in sorted(info.secret - secret_keys):
                findings.append(
                    Finding(where, f"secret setting {key} is missing from its Secret example")
                )
            own = _configmap_data(objects, _configmap_name(container, f"bbp-{svc}")) or {}
            allowed = info.known | pending | (gunicorn_env if svc == "portal" else set())
            for key in sorted(set(own) - allowed):
                findings.append(
                    Finding(
                        where,
                        f"{key} is not a setting of the {svc} (typo? or add it to {PENDING_FILE})",
                    )
                )
            for key in sorted(secret_keys - info.known - pending):
                findings.append(
                    Finding(where, f"Secret example key {key} is not a setting of the {svc}")
                )
    return findings


def _configmap_name(container: dict, prefix: str) -> str:
    for ref in container.get("envFrom") or []:
        name = (ref.get("configMapRef") or {}).get("name", "")
        if name == prefix or name.startswith(prefix + "-"):
            return name
    return prefix


# --------------------------------------------------------------------------------------------
# NetworkPolicies, evaluated


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
        ns_ok = _selects(ns_selector, other.namespace_labels)
    return ns_ok and _selects(rule_peer.get("podSelector"), other.labels)


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
            and _selects(p["spec"].get("podSelector"), me.labels)
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


def check_network(
    objects: list[dict], unit: str, extra_workloads: Iterable[Workload] = ()
) -> list[Finding]:
    """The traffic rules of issue 10, by evaluating the NetworkPolicies of a main overlay."""
    findings: list[Finding] = []
    policies = list(_by_kind(objects, "NetworkPolicy").values())
    ws = [*workloads(objects), *extra_workloads]
    if not ws:
        return [Finding(unit, "no workloads")]
    namespace = ws[0].namespace or "default"
    peers = {
        w.component: pod(w.component, w.namespace or namespace, w.pod_labels, w.named_ports())
        for w in ws
    }
    ingress_ctl = pod(
        "ingress-controller", INGRESS_NAMESPACE, {"app.kubernetes.io/name": "ingress-nginx"}
    )
    prometheus = pod("prometheus", MONITORING_NAMESPACE, {"app.kubernetes.io/name": "prometheus"})
    stranger = pod("a pod of another namespace", "default", {"app": "other"})
    dns = pod("kube-dns", "kube-system", {"k8s-app": "kube-dns"})

    for comp, me in peers.items():
        where = f"{unit}/{comp}"
        for direction in ("Ingress", "Egress"):
            if not any(
                direction in _policy_types(p) and _selects(p["spec"].get("podSelector"), me.labels)
                for p in policies
            ):
                findings.append(
                    Finding(where, f"not isolated for {direction} (no NetworkPolicy selects it)")
                )
        for proto in ("UDP", "TCP"):
            if not allowed(policies, me, dns, 53, proto):
                findings.append(
                    Finding(where, f"cannot reach DNS (kube-system/kube-dns:53/{proto})")
                )
        for port in COMMON_EXTERNAL_PORTS:
            if allowed(policies, me, outside(UNKNOWN_EXTERNAL_IP), port):
                findings.append(
                    Finding(where, f"may reach any address on port {port} (egress is not narrowed)")
                )

    # External endpoints: exactly the expected callers.
    present = set()
    for policy in policies:
        endpoint = (policy["metadata"].get("annotations") or {}).get("bbp/endpoint")
        if not endpoint:
            continue
        present.add(endpoint)
        expected = EXPECTED_EGRESS.get(endpoint)
        if expected is None:
            findings.append(
                Finding(
                    f"{unit}/networkpolicy/{policy['metadata']['name']}",
                    f"unknown endpoint {endpoint!r}",
                )
            )
            continue
        for target, port in _endpoint_samples(policy, peers):
            callers = {comp for comp, me in peers.items() if allowed(policies, me, target, port)}
            if callers != expected & set(peers):
                findings.append(
                    Finding(
                        f"{unit}/networkpolicy/{policy['metadata']['name']}",
                        f"{endpoint} ({target.name}:{port}) is reachable from "
                        f"{sorted(callers) or 'nobody'}, expected {sorted(expected & set(peers))}",
                    )
                )
    missing = REQUIRED_ENDPOINTS.get(unit, set()) - present
    for endpoint in sorted(missing):
        findings.append(
            Finding(
                unit, f"no NetworkPolicy opens the {endpoint} endpoint (annotation bbp/endpoint)"
            )
        )

    # Inbound: the portal's web port from the ingress controller only; metrics from monitoring only.
    portal = peers.get("portal")
    if portal is not None:
        web = portal.ports.get("http")
        if web is None:
            findings.append(Finding(f"{unit}/portal", "no container port named http"))
        else:
            if not allowed(policies, ingress_ctl, portal, web):
                findings.append(
                    Finding(
                        f"{unit}/portal",
                        f"the ingress controller ({INGRESS_NAMESPACE}) cannot reach the web port",
                    )
                )
            for other in (prometheus, stranger, *(p for c, p in peers.items() if c != "portal")):
                if allowed(policies, other, portal, web):
                    findings.append(
                        Finding(
                            f"{unit}/portal",
                            f"{other.name} ({other.namespace}) can reach the web port",
                        )
                    )
    for w in ws:
        me = peers[w.component]
        metrics = w.pod_annotations.get("prometheus.io/port")
        if not metrics:
            continue
        port = int(metrics)
        if not allowed(policies, prometheus, me, port):
            findings.append(
                Finding(
                    f"{unit}/{w.component}", f"the monitoring namespace cannot scrape port {port}"
                )
            )
        for other in (ingress_ctl, stranger, *(p for c, p in peers.items() if c != w.component)):
            if allowed(policies, other, me, port):
                findings.append(
                    Finding(
                        f"{unit}/{w.component}",
                        f"{other.name} ({other.namespace}) can reach the metrics port {port}",
                    )
                )
    for w in ws:
        me = peers[w.component]
        exposed = {p for p in me.ports.values()} - {
            int(w.pod_annotations.get("prometheus.io/port", 0) or 0)
        }
        exposed -= {portal.ports.get("http")} if w.component == "portal" and portal else set()
        for port in sorted(exposed):
            for other in (ingress_ctl, prometheus, stranger):
                if allowed(policies, other, me, port):
                    findings.append(
                        Finding(
                            f"{unit}/{w.component}",
                            f"{other.name} ({other.namespace}) can reach port {port}",
                        )
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


# --------------------------------------------------------------------------------------------
# Docker Compose


COMPOSE_REQUIRED = (
    "mysql",
    "rabbitmq",
    "redis",
    "sandbox",
    "migrate",
    "portal",
    "scheduler",
    "communicator",
)


def read_env_file(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            env[key.strip()] = value.strip()
    return env


def check_compose(root: Path = ROOT) -> list[Finding]:
    path = root / "deploy/compose.yaml"
    where = _rel(path, root)
    if not path.is_file():
        return [Finding(where, "missing")]
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        return [Finding(where, f"not YAML: {exc}")]
    findings: list[Finding] = []
    services = doc.get("services") or {}
    for name in COMPOSE_REQUIRED:
        if name not in services:
            findings.append(Finding(where, f"no service {name}"))
    images = {name: str(s.get("image", "")) for name, s in services.items() if "build" not in s}
    for name, image in images.items():
        if not _image_pinned(image):
            findings.append(
                Finding(f"{where}:{name}", f"image {image!r} is not pinned to a full version")
            )
    mysql, rabbit = images.get("mysql", ""), images.get("rabbitmq", "")
    if not re.match(r"^(docker\.io/)?(library/)?mysql:8\.", mysql):
        findings.append(Finding(f"{where}:mysql", f"{mysql!r} is not MySQL 8"))
    match = re.match(r"^(?:docker\.io/)?(?:library/)?rabbitmq:(\d+)\.(\d+)\.\d+-management", rabbit)
    if not match or (int(match.group(1)), int(match.group(2))) < (3, 10):
        findings.append(
            Finding(
                f"{where}:rabbitmq", f"{rabbit!r} is not a pinned RabbitMQ ≥ 3.10 management image"
            )
        )
    dev_env = read_env_file(root / "dev.env") if (root / "dev.env").is_file() else {}
    for name, svc in services.items():
        sw = f"{where}:{name}"
        build = svc.get("build")
        if build:
            context = (path.parent / build.get("context", ".")).resolve()
            dockerfile = context / build.get("dockerfile", "Dockerfile")
            if context != root.resolve():
                findings.append(Finding(sw, "build context is not the repository root"))
            if not dockerfile.is_file():
                findings.append(Finding(sw, f"no Dockerfile at {_rel(dockerfile, root)}"))
            else:
                images = [t.name for t in targets(stages(dockerfile.read_text()))]
                target = build.get("target")
                if target is None and len(images) > 1:
                    findings.append(Finding(sw, f"no build target (one of {images})"))
                elif target is not None and target not in images:
                    findings.append(
                        Finding(sw, f"build target {target!r} is not one of the images {images}")
                    )
        for dep, cond in (svc.get("depends_on") or {}).items():
            condition = cond.get("condition") if isinstance(cond, dict) else None
            if dep not in services:
                findings.append(Finding(sw, f"depends on unknown service {dep}"))
            elif condition == "service_healthy" and "healthcheck" not in services[dep]:
                findings.append(
                    Finding(sw, f"waits for {dep} to be healthy, but {dep} has no healthcheck")
                )
            elif condition not in (
                "service_healthy",
                "service_completed_successfully",
                "service_started",
            ):
                findings.append(Finding(sw, f"depends on {dep} without a condition"))
        if name in (*SERVICES, "sandbox") and "healthcheck" not in svc:
            findings.append(Finding(sw, "no healthcheck"))
        if name in (*SERVICES, "sandbox", "migrate"):
            if not svc.get("read_only"):
                findings.append(
                    Finding(sw, "not read_only (Kubernetes runs it with a read-only root)")
                )
            env_files = svc.get("env_file") or []
            env_files = [env_files] if isinstance(env_files, str | dict) else env_files
            env = {}
            for env_file in env_files:
                file = env_file["path"] if isinstance(env_file, dict) else env_file
                env.update(read_env_file((path.parent / file).resolve()))
            env.update({k: str(v) for k, v in (svc.get("environment") or {}).items()})
            reads = "SANDBOX_" if name == "sandbox" else "BBP_"
            for key, value in env.items():
                if key.startswith(reads) and re.search(r"(127\.0\.0\.1|localhost)", value):
                    findings.append(Finding(sw, f"{key}={value} points at the container itself"))
            if name in SERVICES:
                for key in dev_env:
                    if key.startswith("BBP_") and key not in env:
                        findings.append(
                            Finding(
                                sw, f"{key} of dev.env is not set (same settings as `make run`)"
                            )
                        )
                deps = svc.get("depends_on") or {}
                if (deps.get("migrate") or {}).get("condition") != "service_completed_successfully":
                    findings.append(
                        Finding(
                            sw,
                            "does not wait for the migrations "
                            "(migrate: service_completed_successfully)",
                        )
                    )
    return findings


# --------------------------------------------------------------------------------------------
# Placeholders (before a real release)


PLACEHOLDER_PATTERNS = (
    re.compile(r"example\.invalid"),
    re.compile(r"\b(192\.0\.2|198\.51\.100|203\.0\.113)\.\d+"),
    re.compile(r"^<[^<>]+>$"),
)


def check_placeholders(objects: list[dict], unit: str) -> list[Finding]:
    findings = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{path}.{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{path}[{i}]")
        elif isinstance(node, str) and any(p.search(node) for p in PLACEHOLDER_PATTERNS):
            findings.append(Finding(unit, f"placeholder left at {path}: {node}"))

    for obj in objects:
        walk(obj, _kn(obj))
    return findings


# --------------------------------------------------------------------------------------------


def find_object(objects: Iterable[dict], kind: str, name: str) -> dict:
    """The object of that kind and name (generated names match by their stem)."""
    for obj in objects:
        if obj.get("kind") == kind and obj["metadata"]["name"] == name:
            return obj
    for obj in objects:
        if obj.get("kind") == kind and obj["metadata"]["name"].startswith(name + "-"):
            return obj
    raise KeyError(f"{kind}/{name}")


def _kn(obj: dict) -> str:
    return f"{str(obj.get('kind', '?')).lower()}/{(obj.get('metadata') or {}).get('name', '?')}"


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def check_rendered(units: Mapping[str, list[dict]], root: Path = ROOT) -> list[Finding]:
    """Every check that works on rendered objects (schemas aside)."""
    findings: list[Finding] = []
    for unit, objects in units.items():
        findings += check_workloads(objects, unit)
        findings += check_no_secrets_rendered(objects, unit)
        findings += check_configmaps(objects, unit)
        if "/" not in unit:
            findings += check_services(objects, unit, root)
            migrate = units.get(f"{unit}/migrate", [])
            findings += check_network(objects, unit, extra_workloads=workloads(migrate))
    findings += check_release(units)
    findings += check_settings(units, root)
    return findings


def run(
    root: Path = ROOT,
    only: Iterable[str] | None = None,
    lint: bool = True,
    release: str | None = None,
) -> list[Finding]:
    findings: list[Finding] = []
    steps: list[str] = []
    started = time.monotonic()
    findings += check_dockerfiles(root, run_hadolint=lint)
    steps.append(f"{len(dockerfiles(root))} Dockerfiles")
    try:
        units = render_all(root, only)
    except CheckError as exc:
        return [*findings, Finding("kustomize", str(exc))]
    steps.append(f"{len(units)} kustomizations rendered ({sum(map(len, units.values()))} objects)")
    for unit, objects in units.items():
        findings += validate_schemas(objects, unit)
    steps.append(f"validated against Kubernetes {', '.join(K8S_VERSIONS)} (strict)")
    findings += check_rendered(units, root)
    findings += check_secret_files(root)
    findings += check_compose(root)
    if release:
        for unit, objects in units.items():
            if unit.split("/")[0] == release:
                findings += check_placeholders(objects, unit)
    _say(f"deploy-check: {'; '.join(steps)}; {time.monotonic() - started:.1f} s")
    return findings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="repository root")
    parser.add_argument("--only", action="append", help="only this overlay (dev, prod); repeatable")
    parser.add_argument(
        "--no-hadolint", action="store_true", help="skip hadolint (own Dockerfile rules still run)"
    )
    parser.add_argument(
        "--release", help="also fail on placeholders left in this overlay (before applying it)"
    )
    args = parser.parse_args(argv)
    try:
        findings = run(args.root, args.only, lint=not args.no_hadolint, release=args.release)
    except CheckError as exc:
        _say(f"deploy-check: {exc}")
        return 2
    for finding in findings:
        sys.stdout.write(f"FAIL {finding}\n")
    sys.stdout.flush()
    _say(f"deploy-check: {len(findings)} finding(s)" if findings else "deploy-check: OK")
    return 1 if findings else 0


def _say(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


if __name__ == "__main__":
    sys.exit(main())
