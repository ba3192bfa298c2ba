"""Benchmark: ingest + compute of generated CSAT responses and tickets into SQLite.

    python benchmarks/ingest_compute.py [--responses 1000000] [--tickets 200000]

Prints, per size: records/s end to end for the first cycle (ingest, issues, match,
compute) by wall and by CPU time, the time of each step, peak memory of the cycle's
process, and the second cycle's time (no new data) as a share of the first. Each cycle
runs in a fresh process so peak memory is its own. Other work on the machine slows the
wall time, not the CPU time: the load average is printed with each size.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypedDict, cast

AS_OF = datetime(2026, 6, 30, tzinfo=UTC)
FEATURES = ["checkout", "search", "login", "reporting", "billing", "mobile", "alerts", "export"]


def generate(folder: Path, responses: int, tickets: int, customers: int = 20000) -> None:
    """Write csat.csv, tickets.jsonl, customers.csv and issues.json, streaming."""
    rng = random.Random(7)
    start = AS_OF - timedelta(days=180)
    span = 180 * 86400
    with (folder / "customers.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "name", "plan", "arr"])
        for n in range(customers):
            w.writerow([f"c{n}", f"Customer {n}", rng.choice(["free", "pro", "enterprise"]),
                        rng.choice(["", "1200", "9000", "60000"])])
    with (folder / "tickets.jsonl").open("w") as f:
        for n in range(tickets):
            at = start + timedelta(seconds=rng.randrange(span))
            f.write(json.dumps({
                "id": f"T{n}", "created_at": at.isoformat(),
                "customer_id": f"c{rng.randrange(customers)}",
                "status": "solved", "subject": "Problem", "tags": [rng.choice(FEATURES), "web"],
                "issue_refs": f"#{rng.randrange(1, 60)}" if rng.random() < 0.02 else "",
                "plan": rng.choice(["free", "pro"]),
                "platform": rng.choice(["web", "ios"])}) + "\n")
    with (folder / "csat.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "submitted_at", "score", "status", "customer_id", "comment", "tags",
                    "ticket_id", "plan", "platform"])
        for n in range(responses):
            at = start + timedelta(seconds=rng.randrange(span))
            offered = rng.random() < 0.2
            w.writerow([f"R{n}", at.strftime("%Y-%m-%d %H:%M:%S"),
                        "" if offered else rng.randint(1, 5), "offered" if offered else "answered",
                        f"c{rng.randrange(customers)}", "", rng.choice(FEATURES),
                        f"T{rng.randrange(tickets)}" if rng.random() < 0.05 else "",
                        rng.choice(["free", "pro"]), rng.choice(["web", "ios"])])
    issues = [{"number": n, "title": f"Bug {n}", "state": "OPEN",
               "labels": [{"name": f"area/{FEATURES[n % len(FEATURES)]}"}],
               "url": f"https://github.com/acme/shop/issues/{n}"} for n in range(1, 61)]
    (folder / "issues.json").write_text(json.dumps(issues))
    features = "\n".join(f'[features.{f}]\ntags = ["{f}"]\nlabels = ["area/{f}"]\n'
                         for f in FEATURES)
    (folder / "bench.toml").write_text(f"""
[store]
url = "sqlite:///{folder}/bench.db"
{features}
[[sources]]
name = "customers"
type = "csv"
kind = "customers"
path = "customers.csv"
[[sources]]
name = "tickets"
type = "jsonl"
kind = "tickets"
path = "tickets.jsonl"
segments = ["plan", "platform"]
[[sources]]
name = "csat"
type = "csv"
kind = "csat"
path = "csat.csv"
segments = ["plan", "platform"]
ticket_source = "tickets"
[tracker]
type = "file"
path = "issues.json"
""")


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
    out = subprocess.run([sys.executable, "-c", CYCLE, str(config), AS_OF.isoformat()],
                         check=True, capture_output=True, text=True)
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
        text = f"{name} {counts['seconds']:.1f} s"
        if name == "ingest" and counts["seconds"]:
            text += f" ({counts['records'] / counts['seconds']:,.0f} records/s)"
        steps.append(text)
    print("  steps       : " + ", ".join(steps))
    reused = " (stored figures reused)" if second["steps"]["compute"].get("reused") else ""
    print(f"  second cycle: {second['seconds']:.2f} s wall, {second['cpu']:.2f} s CPU = "
          f"{100 * second['seconds'] / wall:.1f} % of the first; ingested "
          f"{second['ingested']}; compute {second['steps']['compute']['seconds']:.2f} s"
          f"{reused}; peak memory {second['peak_mb']:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--responses", type=int, default=1_000_000)
    parser.add_argument("--tickets", type=int, default=200_000)
    parser.add_argument("--scales", type=float, nargs="*", default=[0.25, 1.0],
                        help="sizes to run, as fractions of the full size (memory vs size)")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs; {load()}")
    for scale in args.scales:
        responses, tickets = int(args.responses * scale), int(args.tickets * scale)
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            t0 = time.perf_counter()
            generate(folder, responses, tickets)
            generated = time.perf_counter() - t0
            first = cycle(folder / "bench.toml")
            second = cycle(folder / "bench.toml")
            size_mb = sum(p.stat().st_size for p in folder.glob("*.*sv*")) / 2**20
            print(f"\n{responses:,} responses + {tickets:,} tickets "
                  f"({size_mb:,.0f} MB of files, generated in {generated:.0f} s); {load()}")
            report(responses + tickets, first, second)


if __name__ == "__main__":
    main()
