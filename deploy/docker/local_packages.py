"""Print the pip requirement lines that install one package of this repository, and only the
repository's packages it needs, from their source folders (used by the images' build stage).

    python local_packages.py services/portal [--extra alembic] > requirements.txt
    pip install -c constraints.txt -r requirements.txt

Our own packages (``bbp-common``, ``mobiquity-client``, …) are installed from their folders,
never looked up on a package index: a package of the same name published there must not be
able to take their place. Which ones a service needs comes from the ``dependencies`` of its
``pyproject.toml``, followed through the libraries' own; everything else (Flask, SQLAlchemy,
…) is left to pip, pinned by ``constraints.txt``. Standard library only (runs in the build
stage before anything is installed).
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path

# Where the repository's installable packages live, relative to the repository root.
PACKAGE_GLOBS = ("libs/*/pyproject.toml", "services/*/pyproject.toml", "sandbox/pyproject.toml")
_NAME = re.compile(r"^\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)")


def normalize(name: str) -> str:
    """PEP 503 name normalization: ``Bbp_Common`` → ``bbp-common``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _project(pyproject: Path) -> dict:
    with pyproject.open("rb") as fh:
        return tomllib.load(fh).get("project", {})


def local_packages(root: Path) -> dict[str, Path]:
    """Normalized project name → folder, for every package of the repository under ``root``."""
    found: dict[str, Path] = {}
    for pattern in PACKAGE_GLOBS:
        for pyproject in sorted(root.glob(pattern)):
            name = _project(pyproject).get("name")
            if name:
                found[normalize(name)] = pyproject.parent
    return found


def requirement_name(requirement: str) -> str:
    match = _NAME.match(requirement)
    if not match:
        raise ValueError(f"cannot read a project name from {requirement!r}")
    return normalize(match.group(1))


def closure(root: Path, target: Path) -> list[Path]:
    """``target`` and the repository packages it depends on (transitively), dependencies first."""
    packages = local_packages(root)
    order: list[Path] = []
    seen: set[Path] = set()

    def visit(folder: Path, chain: tuple[Path, ...]) -> None:
        if folder in chain:
            raise ValueError("dependency cycle: " + " → ".join(str(p) for p in (*chain, folder)))
        if folder in seen:
            return
        for requirement in _project(folder / "pyproject.toml").get("dependencies", []):
            dependency = packages.get(requirement_name(requirement))
            if dependency is not None:
                visit(dependency, (*chain, folder))
        seen.add(folder)
        order.append(folder)

    visit(target.resolve() if not target.is_absolute() else target, ())
    return order


def requirement_lines(root: Path, target: Path, extras: list[str]) -> list[str]:
    root = root.resolve()
    folders = closure(root, (root / target).resolve())
    return [f"./{folder.relative_to(root).as_posix()}" for folder in folders] + list(extras)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("package", help="folder of the package to install, e.g. services/portal")
    parser.add_argument("--root", default=".", help="repository root (default: .)")
    parser.add_argument(
        "--extra", action="append", default=[], help="another requirement (pinned by constraints)"
    )
    args = parser.parse_args(argv)
    root = Path(args.root)
    if not (root / args.package / "pyproject.toml").is_file():
        sys.stderr.write(f"no pyproject.toml in {root / args.package}\n")
        return 2
    sys.stdout.write("\n".join(requirement_lines(root, Path(args.package), args.extra)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
