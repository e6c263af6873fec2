"""Rendering the kustomizations (the pinned kubectl) and validating every object, strictly,
against the Kubernetes schemas kubernetes-validate bundles."""

from __future__ import annotations

import functools
import subprocess
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

from deploycheck.base import KUSTOMIZATIONS, ROOT, CheckError, Finding, kn, tool

# Kubernetes versions whose bundled schemas every object must satisfy (strict): the oldest
# kubernetes-validate ships (our minimum supported cluster) and the newest it ships.
K8S_VERSIONS = ("1.33.0", "1.37.0")


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
        where = f"{unit}/{kn(obj)}"
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
