"""Check that a refactor changed no output: the demo's files before and after, byte for byte.

Runs ``trialflow demo`` twice in the same temporary home: once on a base commit (checked out
with ``git worktree`` and imported ahead of the installed tree) and once on the working tree.
Then it compares every results.json, HTML report, dashboard, letter, validation report and
CSV the demo wrote. The base run is cached per commit, so a second check costs one demo.

Two things legitimately differ between any two demo runs, and are masked before comparing:
the ``written_at`` stamp of ``analysis/run.json`` and the "Updated <date>, <time>" line of the
uptake dashboards. Nothing else is.

Usage::

    .venv/bin/python scripts/check_same_outputs.py            # against RENOVATION_BASE
    .venv/bin/python scripts/check_same_outputs.py --base 86b8289
    .venv/bin/python scripts/check_same_outputs.py --candidate f47e741   # a commit, not the tree

Exit 0 when every file is byte-identical after masking, 1 when any differs or is missing
on one side, 2 when a demo run fails.
"""

from __future__ import annotations

import argparse
import difflib
import fcntl
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The last commit before the renovation of issue 17 (common/ and intake/ were empty).
RENOVATION_BASE = "8582995"
WORK = Path(tempfile.gettempdir()) / "trialflow-same-outputs"
#: Both runs use this one home, so no absolute path differs between them.
HOME = WORK / "home"
COMPARED = (".json", ".html", ".md", ".csv")
#: (file name pattern, line pattern): the stamps that differ between any two runs.
VOLATILE = (
    (re.compile(r"run\.json$"), re.compile(rb'"written_at": "[^"]*"')),
    (re.compile(r"uptake\.html$"), re.compile(rb"Updated [^<]*? from ")),
)


#: Settings the child demo must not inherit: they would send its outputs elsewhere.
UNSET_FOR_CHILD = ("TRIALFLOW_REPORTS_DIR", "PREFECT_API_URL")


def _child_settings(tree: Path) -> dict[str, str]:
    """What the child demo's environment sets (its own settings module reads them)."""
    return {"TRIALFLOW_HOME": str(HOME), "PYTHONPATH": str(tree)}


def _run_demo(tree: Path, into: Path) -> None:
    """Run the demo with ``tree``'s code in the shared home, then move its outputs to ``into``."""
    if HOME.exists():
        shutil.rmtree(HOME)
    env = dict(os.environ)
    env.update(_child_settings(tree))
    for name in UNSET_FOR_CHILD:
        env.pop(name, None)
    # PYTHONPATH comes before the editable install's finder, so `tree`'s code is imported
    code = "import sys; from flows.cli import main; sys.argv = ['trialflow', 'demo']; main()"
    command = [sys.executable, "-c", code]
    log = into.with_suffix(".log")
    into.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        done = subprocess.run(command, cwd=tree, env=env, stdout=out, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        print(f"The demo on {tree} failed (exit {done.returncode}); its output is in {log}.")
        sys.exit(2)
    if into.exists():
        shutil.rmtree(into)
    into.mkdir(parents=True)
    for part in ("out", "reports"):
        shutil.move(str(HOME / part), str(into / part))


def _checkout(rev: str) -> tuple[str, Path]:
    """The full hash of ``rev`` and a worktree of it (made once, then reused)."""
    sha = subprocess.run(
        ["git", "rev-parse", "--verify", f"{rev}^{{commit}}"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    tree = WORK / f"tree-{sha[:12]}"
    if not tree.exists():
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(tree), sha],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
    return sha, tree


def _base_outputs(rev: str) -> Path:
    sha, tree = _checkout(rev)
    cached = WORK / f"base-{sha[:12]}"
    if (cached / "out").is_dir():
        print(f"Base {sha[:12]}: outputs cached in {cached}")
        return cached
    print(f"Base {sha[:12]}: running the demo on a checkout in {tree} ...", flush=True)
    _run_demo(tree, cached)
    return cached


def _masked(name: str, data: bytes) -> bytes:
    for file_pattern, stamp in VOLATILE:
        if file_pattern.search(name):
            data = stamp.sub(b"<masked>", data)
    return data


def _files(folder: Path) -> set[str]:
    return {
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if p.is_file() and p.suffix in COMPARED
    }


def compare(base: Path, candidate: Path) -> int:
    """Print how the two output trees differ; return the number of files that differ."""
    before, after = _files(base), _files(candidate)
    problems = 0
    for name in sorted(before - after):
        print(f"MISSING after: {name}")
        problems += 1
    for name in sorted(after - before):
        print(f"NEW after:     {name}")
        problems += 1
    same = 0
    for name in sorted(before & after):
        old = _masked(name, (base / name).read_bytes())
        new = _masked(name, (candidate / name).read_bytes())
        if old == new:
            same += 1
            continue
        problems += 1
        print(f"DIFFERS:       {name}")
        lines = difflib.unified_diff(
            old.decode(errors="replace").splitlines(),
            new.decode(errors="replace").splitlines(),
            "before",
            "after",
            n=0,
            lineterm="",
        )
        for line in list(lines)[:12]:
            print(f"    {line[:200]}")
    kinds = {suffix: sum(n.endswith(suffix) for n in before & after) for suffix in COMPARED}
    print(
        f"{same} of {len(before | after)} files byte-identical "
        f"({', '.join(f'{k} {v}' for k, v in kinds.items() if v)} compared); {problems} differ."
    )
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default=RENOVATION_BASE, help="commit to compare against")
    parser.add_argument(
        "--candidate", help="commit to check instead of the working tree (run from a worktree)"
    )
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    # one check at a time: both runs share HOME
    with (WORK / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        base = _base_outputs(args.base)
        candidate = WORK / "candidate"
        if args.candidate:
            sha, tree = _checkout(args.candidate)
            print(f"Candidate {sha[:12]}: running the demo on a checkout in {tree} ...", flush=True)
        else:
            tree = ROOT
            print(f"Working tree: running the demo on {ROOT} ...", flush=True)
        _run_demo(tree, candidate)
        return 1 if compare(base, candidate) else 0


if __name__ == "__main__":
    sys.exit(main())
