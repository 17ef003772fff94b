"""Benchmark: how long each command takes, against the pure work it wraps (issue 12.3).

Targets: commands that run no flow (``--help``, ``validate``, ``power``,
``status``) answer in under 1 s; a flow command against a running server
(``trialflow server start``) adds under 3 s to its work; ``trialflow demo``
under 60 s.  Each command runs as a coordinator runs it (the console script in
a fresh process, median of ``REPEATS``); its pure work runs side by side in a
fresh interpreter too (``python -c`` doing just the work: the imports it needs
and the call), so "overhead" is what the command adds: typer, Prefect, the
server round trips.

Then the demo runs once, against the running server, and its per-stage table
is printed.

    .venv/bin/python bench/bench_cli.py [--no-demo]
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRIALFLOW = str(Path(sys.executable).with_name("trialflow"))
COFFEE = ROOT / "trial_designs" / "coffee.yaml"
REPEATS = 3
LIGHT_TARGET_S = 1.0
FLOW_OVERHEAD_TARGET_S = 3.0
DEMO_TARGET_S = 60.0


def _timed(args: list[str], env: dict[str, str], cwd: Path) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=900)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return seconds, done.stdout


def _median(args: list[str], env: dict[str, str], cwd: Path, repeats: int = REPEATS) -> float:
    return statistics.median(_timed(args, env, cwd)[0] for _ in range(repeats))


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="trialflow-bench-cli-"))
    work = home / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "PREFECT_HOME")}
    env.update(TRIALFLOW_HOME=str(home / "home"), TRIALFLOW_REPORTS_DIR=str(home / "reports"))
    sim = str(work / "sim")
    rows: list[tuple[str, float, float, str]] = []

    def compare(label: str, command: list[str], pure: list[str], target: str) -> None:
        seconds = _median(command, env, work)
        work_s = _median(pure, env, work)
        rows.append((label, seconds, work_s, target))
        print(f"  measured {label}: {seconds:.2f} s (pure work {work_s:.2f} s)", flush=True)

    print(f"Each figure is the median of {REPEATS} runs; home {home}.", flush=True)
    compare("trialflow --help", [TRIALFLOW, "--help"], _python("pass"), f"< {LIGHT_TARGET_S:g} s")
    compare(
        "trialflow validate coffee",
        [TRIALFLOW, "validate", "coffee"],
        _python(f"from trial_designs.design import load_design\nload_design({str(COFFEE)!r})"),
        f"< {LIGHT_TARGET_S:g} s",
    )
    compare(
        "trialflow power --n 400",
        [TRIALFLOW, "power", "--n", "400"],
        _python("from analysis.power import mdes\nmdes(n=400)"),
        f"< {LIGHT_TARGET_S:g} s",
    )
    pure_simulate = _python(
        "import numpy as np\nfrom pathlib import Path\n"
        "from trial_designs.design import load_design\n"
        "from trial_designs.simulate_roster import simulate_roster\n"
        "from flows.safe_io import write_csv\n"
        f"out = Path({sim!r}); out.mkdir(parents=True, exist_ok=True)\n"
        f"design = load_design({str(COFFEE)!r})\n"
        "write_csv(simulate_roster(design, rng=np.random.default_rng([1, 1])), out / 'roster.csv')"
    )
    simulate = [TRIALFLOW, "simulate", "coffee", "--out", sim]
    # the temporary server: what every flow command cost before `trialflow server start`
    seconds, work_s = _timed(simulate, env, work)[0], _median(pure_simulate, env, work, 1)
    rows.append(("simulate (temporary server)", seconds, work_s, "fallback"))
    print(f"  measured simulate on the temporary server: {seconds:.2f} s", flush=True)

    port = _free_port()
    _timed([TRIALFLOW, "server", "start", "--port", str(port)], env, work)
    try:
        compare(
            "simulate (running server)",
            simulate,
            pure_simulate,
            f"overhead < {FLOW_OVERHEAD_TARGET_S:g} s",
        )
        _timed([TRIALFLOW, "randomise", "coffee", "--roster", f"{sim}/roster.csv"], env, work)
        compare(
            "trialflow status coffee",
            [TRIALFLOW, "status", "coffee"],
            _python("from flows.status import trial_status\ntrial_status('coffee')"),
            f"< {LIGHT_TARGET_S:g} s",
        )
        print()
        print(
            f"{'command':<30} {'seconds':>8} {'pure work':>10} {'overhead':>9} {'ratio':>6}  target"
        )
        for label, seconds, work_s, target in rows:
            print(
                f"{label:<30} {seconds:>8.2f} {work_s:>10.2f} {seconds - work_s:>9.2f} "
                f"{seconds / work_s:>6.1f}  {target}"
            )
        if "--no-demo" not in sys.argv:
            _demo(env, work)
    finally:
        _timed([TRIALFLOW, "server", "stop"], env, work)
        shutil.rmtree(home, ignore_errors=True)


def _demo(env: dict[str, str], work: Path) -> None:
    """The demo once, on the running server; its own per-stage timings, as a table."""
    seconds, out = _timed([TRIALFLOW, "demo"], {**env, "COLUMNS": "400"}, work)
    match = re.search(
        r"Wall time ([\d.]+) s: Prefect start-up ([\d.]+) s; (.*?)( \(summed.*)?\.$", out, re.M
    )
    print(
        f"\ntrialflow demo (running server): {seconds:.1f} s in all, target < {DEMO_TARGET_S:g} s"
    )
    if not match:
        print(out[-1500:])
        return
    print(f"{'stage':<20} {'seconds':>8}")
    print(f"{'Prefect start-up':<20} {float(match.group(2)):>8.1f}")
    for part in match.group(3).split(", "):
        stage, value, _ = part.rsplit(" ", 2)
        print(f"{stage:<20} {float(value):>8.1f}")
    if match.group(4):
        print(f"(stage seconds{match.group(4).rstrip(')')})")
    print(f"{'total (demo)':<20} {float(match.group(1)):>8.1f}")
    print(f"{'process start':<20} {seconds - float(match.group(1)):>8.1f}")


if __name__ == "__main__":
    main()
