"""Secrets, ConfigMaps and settings: no Secret rendered or committed (examples hold
placeholders and are never applied), no credential in a ConfigMap, and the ConfigMaps and
Secret examples against the settings classes the services read (required ones provided,
secret ones only through Secrets, no unknown name). Also the placeholders left before a
release."""

from __future__ import annotations

import importlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from deploycheck.base import (
    ROOT,
    SERVICES,
    Finding,
    by_kind,
    configmap_data,
    env_of,
    kn,
    rel,
    workloads,
)

SECRETISH_KEY = re.compile(r"(PASSWORD|PASSWD|SECRET|MPIN|PIN$|TOKEN|PRIVATE|_KEY$|CREDENTIAL)")


URL_WITH_PASSWORD = re.compile(r"://[^/@\s:]*:[^/@\s]+@")


PLACEHOLDER_VALUE = re.compile(r"^<[^<>]+>$")


PENDING_FILE = "deploy/k8s/pending-settings.txt"


def secret_examples(root: Path = ROOT) -> dict[str, dict]:
    """Secret name → example object, from every deploy/**/secret.example.yaml."""
    found = {}
    for path in sorted(root.glob("deploy/**/*.example.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "Secret":
                found[doc["metadata"]["name"]] = doc | {"_path": path}
    return found


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
    for cm in by_kind(objects, "ConfigMap").values():
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
        where = rel(path, root)
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
                    rel(kfile, root),
                    f"secretGenerator {gen.get('name')}: Secrets are created out of band",
                )
            )
        for item in listed:
            if "example" in str(item):
                findings.append(Finding(rel(kfile, root), f"applies an example file: {item}"))
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
        and (obj.__module__ == module.__name__ or module_name == "bbp_common.platform.settings")
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
    common = _settings_info("bbp_common.platform.settings") or SettingsInfo()
    known_anywhere = common.known | {k for i in infos.values() if i for k in i.known} | pending
    for unit, objects in units.items():
        if "/" in unit:
            continue
        for cm in by_kind(objects, "ConfigMap").values():
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
            configured = env_of(w, objects, container)
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
            own = configmap_data(objects, _configmap_name(container, f"bbp-{svc}")) or {}
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
        walk(obj, kn(obj))
    return findings
