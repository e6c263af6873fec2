"""deploy/compose.yaml: its services, pinned images, existing build targets, health checks,
start order, read-only roots, and the settings of `make run` with the hosts changed."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from deploycheck.base import ROOT, SERVICES, Finding, rel
from deploycheck.dockerfiles import image_pinned, stages, targets

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
    where = rel(path, root)
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
        if not image_pinned(image):
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
                findings.append(Finding(sw, f"no Dockerfile at {rel(dockerfile, root)}"))
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
