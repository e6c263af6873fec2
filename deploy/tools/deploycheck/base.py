"""What every check shares: the repository root, the rendered units' names, a finding, the
pinned tools, and reading workloads and label selectors out of rendered objects."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


# Rendered units: name → kustomization folder (relative to the repository root). Each main
# overlay has a migrate/ kustomization holding the migration Job, applied first.
KUSTOMIZATIONS = {
    "dev": "deploy/k8s/overlays/dev",
    "dev/migrate": "deploy/k8s/overlays/dev/migrate",
    "prod": "deploy/k8s/overlays/prod",
    "prod/migrate": "deploy/k8s/overlays/prod/migrate",
}


SERVICES = ("portal", "scheduler", "communicator")


LONG_RUNNING = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"}


WORKLOAD_KINDS = LONG_RUNNING | {"Job", "CronJob", "Pod"}


@dataclass(frozen=True)
class Finding:
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


class CheckError(Exception):
    """A step could not run at all (a tool missing, a render failing)."""


def tool(name: str) -> str:
    """The pinned tool from this venv (requirements-dev.txt; checkov: requirements-checkov.txt,
    linked there), else the one on PATH."""
    venv = Path(sys.executable).parent / name
    if venv.is_file() and os.access(venv, os.X_OK):
        return str(venv)
    found = shutil.which(name)
    if not found:
        raise CheckError(f"{name} not found: run `make setup` (it installs the pinned {name})")
    return found


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


def by_kind(objects: Iterable[dict], kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in objects if o.get("kind") == kind}


def selects(selector: Mapping | None, labels: Mapping[str, str]) -> bool:
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


def configmap_data(objects: list[dict], name: str) -> dict[str, str] | None:
    for cm in by_kind(objects, "ConfigMap").values():
        if cm["metadata"]["name"] == name:
            return dict(cm.get("data") or {})
    return None


def env_of(w: Workload, objects: list[dict], container: dict) -> dict[str, str]:
    """What a container's environment will hold from its ConfigMaps and plain env values."""
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        ref = source.get("configMapRef")
        if ref:
            env.update(configmap_data(objects, ref["name"]) or {})
    for item in container.get("env") or []:
        if "value" in item:
            env[item["name"]] = str(item["value"])
    return env


def find_object(objects: Iterable[dict], kind: str, name: str) -> dict:
    """The object of that kind and name (generated names match by their stem)."""
    for obj in objects:
        if obj.get("kind") == kind and obj["metadata"]["name"] == name:
            return obj
    for obj in objects:
        if obj.get("kind") == kind and obj["metadata"]["name"].startswith(name + "-"):
            return obj
    raise KeyError(f"{kind}/{name}")


def kn(obj: dict) -> str:
    return f"{str(obj.get('kind', '?')).lower()}/{(obj.get('metadata') or {}).get('name', '?')}"


def rel(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)
