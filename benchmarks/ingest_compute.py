"""Benchmark: one cycle's steps in process, on benchmarks/orgdata.py's data, for profiling.

    python benchmarks/ingest_compute.py [--records 1200000] [--scales 0.25 1]
    py-spy record -o cycle.svg -- .venv/bin/python benchmarks/ingest_compute.py --scales 1

benchmarks/cycle.py measures what a user sees (the command line, PostgreSQL, growth,
DuckDB beside it). This one runs the pipeline itself in a fresh process per cycle, so a
profiler sees the cycle and nothing else, and prints per size: records/s end to end by
wall and by CPU time, each step's time, peak memory, and the second cycle (no new data)
as a share of the first. Other work on the machine slows the wall time, not the CPU time:
the load average is printed with each size.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, TypedDict, cast

sys.path.insert(0, str(Path(__file__).resolve().parent))

import orgdata

CYCLE = """
import json, resource, sys, time
from datetime import datetime
from pathlib import Path
from impactlink.config import load_settings
from impactlink.pipeline import Pipeline
settings = load_settings(Path(sys.argv[1]))
started, cpu = time.perf_counter(), time.process_time()
result = Pipeline(settings).run(datetime.fromisoformat(sys.argv[2]))
seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "cpu": cpu, "peak_mb": peak,
                  "ingested": sum(s.ingested for s in result.sources.values()),
                  "impacts": len(result.impacts), "steps": result.steps, "ok": result.ok}))
"""


class Cycle(TypedDict):
    seconds: float
    cpu: float
    peak_mb: float
    ingested: int
    impacts: int
    steps: dict[str, dict[str, Any]]
    ok: bool


def cycle(config: Path) -> Cycle:
    out = subprocess.run([sys.executable, "-c", CYCLE, str(config), orgdata.AS_OF.isoformat()],
                         capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"the cycle failed (exit {out.returncode}):\n{out.stderr[-3000:]}")
    return cast(Cycle, json.loads(out.stdout.strip().splitlines()[-1]))


def load() -> str:
    return "load average " + " ".join(f"{n:.2f}" for n in os.getloadavg())


def report(records: int, first: Cycle, second: Cycle) -> None:
    """Print both cycles: wall and CPU time (other work on the machine slows the wall)."""
    wall, cpu = first["seconds"], first["cpu"]
    print(f"  first cycle : {wall:.1f} s wall, {cpu:.1f} s CPU = {records / wall:,.0f} records/s "
          f"end to end ({records / cpu:,.0f} per CPU second); peak memory "
          f"{first['peak_mb']:.0f} MB; {first['impacts']} issues with impact")
    steps = []
    for name, counts in first["steps"].items():
        text = f"{name} {counts.get('seconds', 0):.1f} s"
        if name == "ingest" and counts.get("seconds") and counts.get("records"):
            text += f" ({counts['records'] / counts['seconds']:,.0f} records/s)"
        steps.append(text)
    print("  steps       : " + ", ".join(steps))
    compute = second["steps"].get("compute", {})
    reused = " (stored figures reused)" if compute.get("reused") else ""
    print(f"  second cycle: {second['seconds']:.2f} s wall, {second['cpu']:.2f} s CPU = "
          f"{100 * second['seconds'] / wall:.1f} % of the first; ingested "
          f"{second['ingested']}; compute {compute.get('seconds', 0):.2f} s"
          f"{reused}; peak memory {second['peak_mb']:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_200_000,
                        help="survey rows + tickets at scale 1 (5:1)")
    parser.add_argument("--scales", type=float, nargs="*", default=[0.25, 1.0],
                        help="sizes to run, as fractions of --records (memory vs size)")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs; {load()}")
    for scale in args.scales:
        records = int(args.records * scale)
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            t0 = time.perf_counter()
            meta = orgdata.generate(folder, records)
            generated = time.perf_counter() - t0
            first = cycle(folder / "bench.toml")
            second = cycle(folder / "bench.toml")
            size_mb = sum(p.stat().st_size for p in folder.glob("*.*s*")) / 2**20
            print(f"\n{meta['responses']:,} survey rows + {meta['tickets']:,} tickets, "
                  f"{meta['open_issues']:,} open issues ({size_mb:,.0f} MB of files, "
                  f"generated in {generated:.0f} s); {load()}")
            report(records, first, second)


if __name__ == "__main__":
    main()
