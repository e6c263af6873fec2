"""The Dockerfile (deploy/docker/Dockerfile, one target per image): hadolint (which also
wants exec-form entry points, DL3025, and pip without its cache, DL3042), then the rules it
has no word for — bases pinned to a full version, pip only with -c constraints.txt, and for
each image target, with what it inherits from its parent stages, a numeric non-root USER, an
ENTRYPOINT, STOPSIGNAL SIGTERM and PYTHONDONTWRITEBYTECODE=1."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from deploycheck.base import ROOT, Finding, rel, tool


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
            f"{rel(Path(r['file']), root)}:{r['line']}",
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


def inherited(stage: Stage, found: list[Stage]) -> list[tuple[str, str, int]]:
    """The instructions an image built from ``stage`` has: its parent stages' first."""
    by_name = {s.name: s for s in found if s.name}
    chain = [stage]
    while chain[-1].base.lower() in by_name and len(chain) <= len(found):
        chain.append(by_name[chain[-1].base.lower()])
    return [i for s in reversed(chain) for i in s.instructions]


def check_dockerfile(path: Path, text: str | None = None, root: Path = ROOT) -> list[Finding]:
    text = path.read_text() if text is None else text
    where = rel(path, root)
    found = stages(text)
    if not found:
        return [Finding(where, "no FROM")]
    findings: list[Finding] = []
    aliases = {s.name for s in found if s.name}
    for stage in found:
        if stage.base.lower() not in aliases and not image_pinned(stage.base):
            findings.append(
                Finding(
                    f"{where}:{stage.line}",
                    f"base image {stage.base!r} is not pinned to a full version (X.Y.Z) "
                    "or a digest",
                )
            )
    for target in targets(found):
        findings += _check_target(target, inherited(target, found), where)
    for ins, args, line in parse_dockerfile(text):
        if ins != "RUN":
            continue
        for command in re.split(r"&&|;|\|\|", args):
            if not _PIP_INSTALL.search(command):
                continue
            words = command.split()
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
    # Its exec form (signals reach the process) is hadolint's DL3025.
    if not any(i == "ENTRYPOINT" for i, _, _ in final):
        findings.append(Finding(at, f"{label} has no ENTRYPOINT"))
    if not any(i == "STOPSIGNAL" and a.upper() in ("SIGTERM", "15") for i, a, _ in final):
        findings.append(Finding(at, f"{label} has no STOPSIGNAL SIGTERM"))
    env_text = " ".join(a for i, a, _ in final if i == "ENV")
    if not re.search(r"(^|\s)PYTHONDONTWRITEBYTECODE=1(\s|$)", env_text):
        findings.append(
            Finding(at, f"{label} does not set PYTHONDONTWRITEBYTECODE=1 (read-only root)")
        )
    return findings


def image_pinned(image: str) -> bool:
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
