"""Offline checks of everything under deploy/ (CI: `make deploy-check`; also used by tests/deploy).

    python deploy/tools/deploy_check.py                 # everything, as CI runs it
    python deploy/tools/deploy_check.py --only dev      # one overlay (and its migrate/ Job)
    python deploy/tools/deploy_check.py --release prod  # + fail on placeholders left to set

The checks live in deploy/tools/deploycheck/, one module per concern (base, dockerfiles,
render, workloads, services, config, network, compose); this file runs them in order.

What it checks, without a cluster or a Docker engine:

1. Every Dockerfile (one: deploy/docker/Dockerfile, a target per image): hadolint
   (``.hadolint.yaml``), then our own rules — every base image pinned to a full version (or a
   digest), pip only with ``-c constraints.txt``, one base image for all; each image target,
   with what it inherits, a numeric non-root ``USER``, an ``ENTRYPOINT``,
   ``STOPSIGNAL SIGTERM``, ``PYTHONDONTWRITEBYTECODE=1``.
2. Every kustomization renders (``kubectl kustomize``, the kubectl pinned in constraints.txt),
   without deprecation warnings.
3. Every rendered object validates, strictly (no unknown field), against the bundled
   OpenAPI schemas of each Kubernetes version in ``K8S_VERSIONS`` (kubernetes-validate); an
   object of a kind without a schema is an error, not a warning.
4. Every workload (Deployment, Job, …) in every render: checkov's Kubernetes checks (offline,
   one run; the few skipped are listed with their reason in deploycheck/workloads.py) —
   requests and limits, probes of long-running ones, non-root, read-only root filesystem, no
   privilege escalation, capabilities dropped, seccomp, no host namespaces, a tagged image,
   no service-account token, … — and the two restricted Pod Security rules checkov lacks
   (runAsNonRoot true everywhere, no hostPath or other volume type outside the allowed list).
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
import sys
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

# Run as a script (`python deploy/tools/deploy_check.py`), its folder is on sys.path already;
# imported (tests/deploy), the tests put it there.
from deploycheck.base import ROOT, CheckError, Finding, workloads
from deploycheck.compose import check_compose
from deploycheck.config import (
    check_configmaps,
    check_no_secrets_rendered,
    check_placeholders,
    check_secret_files,
    check_settings,
)
from deploycheck.dockerfiles import check_dockerfiles, dockerfiles
from deploycheck.network import check_network
from deploycheck.render import K8S_VERSIONS, render_all, validate_schemas
from deploycheck.services import check_release, check_services
from deploycheck.workloads import SKIPPED, check_workloads


def check_rendered(units: Mapping[str, list[dict]], root: Path = ROOT) -> list[Finding]:
    """Every check that works on rendered objects (schemas and workload rules aside)."""
    findings: list[Finding] = []
    for unit, objects in units.items():
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
    checkov: bool = True,
) -> list[Finding]:
    steps: list[str] = []
    started = time.monotonic()
    # hadolint, then checkov, run in processes of their own while this one does the rest.
    with ThreadPoolExecutor(max_workers=2) as pool:
        dockerfile_findings = pool.submit(check_dockerfiles, root, lint)
        try:
            units = render_all(root, only)
        except CheckError as exc:
            return [*dockerfile_findings.result(), Finding("kustomize", str(exc))]
        workload_findings = pool.submit(check_workloads, units, checkov=checkov)
        steps.append(f"{len(dockerfiles(root))} Dockerfiles")
        steps.append(
            f"{len(units)} kustomizations rendered ({sum(map(len, units.values()))} objects)"
        )
        findings = dockerfile_findings.result()
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
        findings += workload_findings.result()
    steps.append(f"workloads: checkov ({len(SKIPPED)} checks skipped)" if checkov else "no checkov")
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
        "--no-checkov", action="store_true", help="skip checkov (our own workload rules still run)"
    )
    parser.add_argument(
        "--release", help="also fail on placeholders left in this overlay (before applying it)"
    )
    args = parser.parse_args(argv)
    try:
        findings = run(
            args.root,
            args.only,
            lint=not args.no_hadolint,
            release=args.release,
            checkov=not args.no_checkov,
        )
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
