"""Run every benchmark in bench/ in turn (`make bench`); each prints ratios against its peer."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: Benchmarks with a make target of their own.
SEPARATE = {"bench_national.py"}
#: Arguments that keep `make bench` to minutes: the old dummy-column ITT fit at 1M rows
#: needs about 9 GB and 4 minutes; at 200,000 rows it is 2 GB and the ratio is still shown.
ARGUMENTS = {"bench_itt_strata.py": ["--rows", "200000"]}

if __name__ == "__main__":
    # bench_cli first: the command latency table and the demo's stages (issue 12)
    scripts = sorted(HERE.glob("bench_*.py"), key=lambda p: (p.name != "bench_cli.py", p.name))
    # the national trial takes minutes and gigabytes: `make bench-national` runs it alone
    scripts = [p for p in scripts if p.name not in SEPARATE]
    failed = []
    with tempfile.TemporaryDirectory(prefix="trialflow-bench-") as home:
        env = {**os.environ, "TRIALFLOW_HOME": home}
        for script in scripts:
            print(f"\n=== {script.name} ===", flush=True)
            command = [sys.executable, str(script), *ARGUMENTS.get(script.name, [])]
            if subprocess.run(command, cwd=HERE.parent, env=env).returncode:
                failed.append(script.name)
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")
