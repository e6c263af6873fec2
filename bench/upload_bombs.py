"""Benchmark: what each crafted upload (tests/support/upload_bombs.py) costs the parser.

Each file is parsed in a child process of its own, so that the memory figure is the
process's own growth (peak RSS after minus before: native memory included, which
tracemalloc cannot see) and a file that runs away cannot hurt this one. Needs no server::

    .venv/bin/python bench/upload_bombs.py [--timeout 120] [--good]

``--good`` also times good 50 000-row workbooks (the cost of the guard on files that pass).
Figures go in docs/security.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, {root!r})
from bbp_portal.accounts.upload.parse import UploadRefused, parse_upload
import openpyxl.reader.excel  # imported before measuring: not the file's cost

path, file_name = sys.argv[1], sys.argv[2]
with open(path, "rb") as f:
    data = f.read()
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
cpu = time.process_time()
try:
    outcome = "read %d rows" % len(parse_upload(data, file_name).rows)
except UploadRefused as refused:
    outcome = "refused: " + refused.code
print(json.dumps({{
    "size_kib": round(len(data) / 1024),
    "cpu_s": round(time.process_time() - cpu, 3),
    "rss_mib": round((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss) / 1024),
    "outcome": outcome,
}}))
"""


def run(data: bytes, file_name: str, timeout: float) -> dict[str, object]:
    """Parse ``data`` in a child process (made here: the child only reads the file)."""
    with tempfile.NamedTemporaryFile(suffix=file_name) as file:
        file.write(data)
        file.flush()
        return _child(file.name, file_name, timeout)


def _child(path: str, file_name: str, timeout: float) -> dict[str, object]:
    try:
        done = subprocess.run(
            [sys.executable, "-c", CHILD.format(root=str(ROOT)), path, file_name],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"outcome": f"still running after {timeout:.0f} s"}
    if done.returncode:
        return {"outcome": f"died ({done.returncode}): {done.stderr.strip()[-200:]}"}
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--timeout", type=float, default=120)
    parser.add_argument("--good", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from tests.support import upload_bombs as bombs

    cases = [(f"{n} (XLSX)", make, "bomb.xlsx") for n, make in bombs.XLSX_BOMBS.items()]
    cases += [(f"{n} (CSV)", make, "bomb.csv") for n, make in bombs.CSV_BOMBS.items()]
    if args.good:
        cases += [("50 000 good rows (XLSX as Excel writes it)", bombs.excel_like_xlsx, "a.xlsx")]
    print("| file | size | CPU | memory | outcome |\n|---|---|---|---|---|")
    for label, make, file_name in cases:
        r = run(make(), file_name, args.timeout)
        print(
            f"| {label} | {r.get('size_kib', '?')} KiB | {r.get('cpu_s', '?')} s "
            f"| +{r.get('rss_mib', '?')} MiB | {r['outcome']} |"
        )


if __name__ == "__main__":
    main()
