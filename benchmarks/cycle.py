"""Benchmark: impactlink's cycles on a real support organisation's data, as a user runs them.

    python benchmarks/cycle.py [--records 1200000] [--sizes 10k,100k,1M,2M]
                               [--skip-postgres] [--skip-growth] [--postgres-url URL]
                               [--workdir DIR --keep] [--json figures.json]

Data from benchmarks/orgdata.py (20,000 customers, 5,000 issues, 4,500 open over 8
features, survey rows and tickets 5:1). Each command runs as a user would run it, in its
own process (`impactlink run --dry-run --as-of T`, `impactlink report --as-of T`), timed
by wall clock, with the child's peak memory from wait4(). Prints:

- the cold cycle on a fresh SQLite store and its steps (from the run's summary in the
  store), a second cycle with nothing new, a cycle after appending 1 % new records, and
  `report --as-of` (time and memory);
- the same cold cycle on PostgreSQL (a database of its own, emptied first);
- a growth table: the cold cycle at each size, beside a DuckDB reference doing the
  per-issue aggregation straight over the same files (benchmarks/duckref.py), and our
  time as a multiple of it;
- whether the report's counts (responses, satisfied, tickets, customers observed) agree
  with DuckDB's, issue by issue.

Each target of issue 9 is printed beside its figure. A step that fails is reported with
the end of its output, and the rest still runs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import orgdata

HERE = Path(__file__).resolve().parent
AS_OF = orgdata.AS_OF.strftime("%Y-%m-%dT%H:%M:%SZ")
POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/impactlink_bench"


@dataclass
class Child:
    """One command's outcome: wall time, peak memory of the process, exit code, its log."""

    name: str
    ok: bool
    code: int
    seconds: float
    peak_mb: float
    cpu: float
    log: Path
    steps: dict[str, Any] = field(default_factory=dict)

    def tail(self, lines: int = 15) -> str:
        text = self.log.read_text(encoding="utf-8", errors="replace").splitlines()
        return "\n".join("    " + line for line in text[-lines:])


def impactlink() -> list[str]:
    script = Path(sys.executable).with_name("impactlink")
    return [str(script)] if script.exists() else [sys.executable, "-m", "impactlink"]


def run(name: str, command: list[str], log: Path, timeout: float) -> Child:
    """Run a command to its end; its peak RSS comes from wait4, so it is its own."""
    started = time.perf_counter()
    with log.open("wb") as out:
        try:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        except OSError as error:
            out.write(f"cannot start {command[0]}: {error}\n".encode())
            return Child(name, False, -1, 0.0, 0.0, 0.0, log)
        timer = threading.Timer(timeout, process.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            timer.cancel()
    process.returncode = code = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    if code == -9 and seconds >= timeout:
        with log.open("a", encoding="utf-8") as out:
            out.write(f"\nkilled after the {timeout:.0f} s timeout\n")
    return Child(name, code == 0, code, seconds, usage.ru_maxrss / 1024,
                 usage.ru_utime + usage.ru_stime, log)


def last_summary(store: str) -> dict[str, Any]:
    """Return the newest run's summary from the store (the `run` table); say why not."""
    query = "SELECT summary FROM run ORDER BY id DESC LIMIT 1"
    try:
        if store.startswith("sqlite:///"):
            with sqlite3.connect(store.removeprefix("sqlite:///")) as conn:
                row = conn.execute(query).fetchone()
        else:
            row = postgres_row(store, query)
        return json.loads(row[0]) if row else {"error": "no run recorded"}
    except (sqlite3.Error, OSError, ValueError) as error:
        return {"error": f"{type(error).__name__}: {error}"}


def postgres_row(url: str, query: str) -> tuple[Any, ...] | None:
    import psycopg

    try:
        with psycopg.connect(re.sub(r"^postgresql\+\w+", "postgresql", url)) as conn:
            return conn.execute(query).fetchone()
    except psycopg.Error as error:
        raise OSError(str(error).strip()) from error


def steps_text(child: Child) -> str:
    """Return the run summary's step times, and the time outside them (start-up, output)."""
    if "error" in child.steps:
        return f"(run summary unreadable: {child.steps['error']})"
    steps = {name: float(counts.get("seconds", 0))
             for name, counts in (child.steps.get("steps") or {}).items()
             if isinstance(counts, dict)}
    text = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in steps.items()) or "–"
    return f"{text}; outside the steps {child.seconds - sum(steps.values()):.1f} s"


class Bench:
    """The runs of one benchmark invocation, with their printed table."""

    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.results: dict[str, Any] = {"as_of": AS_OF, "cpus": os.cpu_count()}
        self.failures = 0

    def command(self, name: str, argv: list[str], folder: Path, store: str | None = None
                ) -> Child:
        slug = re.sub(r"\W+", "-", name).strip("-")
        child = run(name, argv, folder / f"{slug}.log", self.args.timeout)
        if store and child.ok:
            child.steps = last_summary(store)
        if not child.ok:
            self.failures += 1
            print(f"  ! {name} failed (exit {child.code}); the end of its output:\n"
                  f"{child.tail()}", flush=True)
        return child

    def cycle(self, name: str, config: Path, store: str) -> Child:
        argv = [*impactlink(), "run", "--config", str(config), "--dry-run", "--as-of", AS_OF]
        return self.command(name, argv, config.parent, store)

    def duckdb(self, name: str, config: Path, output: Path) -> Child:
        argv = [sys.executable, str(HERE / "duckref.py"), "--config", str(config),
                "--as-of", AS_OF, "--output", str(output)]
        return self.command(name, argv, config.parent)

    def row(self, child: Child, note: str = "", key: str | None = None) -> None:
        figure = (f"{child.seconds:8.1f} s  {child.peak_mb:7.0f} MB" if child.ok
                  else f"{'failed':>10}  {'':>10}")
        print(f"  {child.name:<34} {figure}  {note}", flush=True)
        self.results[key or child.name] = {"ok": child.ok, "seconds": round(child.seconds, 2),
                                           "peak_mb": round(child.peak_mb),
                                           "cpu": round(child.cpu, 2),
                                           "steps": child.steps.get("steps", {})}


def share(part: Child, whole: Child) -> str:
    if not (part.ok and whole.ok and whole.seconds):
        return "–"
    return f"{100 * part.seconds / whole.seconds:.1f} % of the cold cycle"


def target(ok: bool) -> str:
    return "meets" if ok else "MISSES"


def parse_size(text: str) -> int:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([kKmM]?)", text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 10k, 1M, 250000)")
    scale = {"": 1, "k": 1_000, "m": 1_000_000}[match.group(2).lower()]
    return int(float(match.group(1)) * scale)


def compute_seconds(child: Child) -> float | None:
    steps = child.steps.get("steps") or {}
    compute = steps.get("compute")
    return float(compute["seconds"]) if isinstance(compute, dict) else None


def agreement(report: Path, reference: Path) -> str:
    """Compare the report's counts with DuckDB's, issue by issue."""
    try:
        ours = {r["issue"]: r for r in json.loads(report.read_text(encoding="utf-8"))}
        theirs = json.loads(reference.read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, TypeError) as error:
        return f"cannot compare: {type(error).__name__}: {error}"
    keys = ("responses", "satisfied", "tickets", "customers_observed")
    differ = [k for k in theirs.keys() & ours.keys()
              if any(ours[k].get(c) != theirs[k][c] for c in keys)]
    text = (f"{len(theirs.keys() & ours.keys())} issues in both, {len(differ)} differ in "
            f"{', '.join(keys)}; {len(theirs.keys() - ours.keys())} only in DuckDB's, "
            f"{len(ours.keys() - theirs.keys())} only in the report")
    for k in sorted(differ)[:3]:
        text += (f"\n    {k}: ours {[ours[k].get(c) for c in keys]}, "
                 f"DuckDB {[theirs[k][c] for c in keys]}")
    return text


def prepare_postgres(url: str) -> str | None:
    """Create the benchmark's database if needed and empty it; return why not, if not."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed"
    plain = re.sub(r"^postgresql\+\w+", "postgresql", url)
    match = re.match(r"^(.*/)([^/?]+)(\?.*)?$", plain)
    if not match:
        return f"cannot read a database name in {url}"
    name = match.group(2)
    try:
        with psycopg.connect(match.group(1) + "postgres", autocommit=True,
                             connect_timeout=5) as admin:
            exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                   (name,)).fetchone()
            if not exists:
                admin.execute(f'CREATE DATABASE "{name}"')
        with psycopg.connect(plain, autocommit=True, connect_timeout=5) as conn:
            conn.execute("DROP SCHEMA public CASCADE")
            conn.execute("CREATE SCHEMA public")
    except psycopg.Error as error:
        return f"{type(error).__name__}: {str(error).strip().splitlines()[0]}"
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=parse_size, default=1_200_000,
                        help="records of the main data set (survey rows + tickets, 5:1)")
    parser.add_argument("--sizes", default="10k,100k,1M,2M",
                        help="records per row of the growth table, comma-separated")
    parser.add_argument("--skip-growth", action="store_true")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--postgres-url", default=os.environ.get("IMPACTLINK_BENCH_DATABASE_URL",
                                                                 POSTGRES),
                        help="a database the benchmark may empty (default: %(default)s)")
    parser.add_argument("--workdir", type=Path, help="where the data sets go (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the data sets and logs")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per command")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    args = parser.parse_args()
    sizes = [parse_size(s) for s in args.sizes.split(",") if s.strip()]
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="impactlink-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    bench = Bench(args, workdir)
    print(f"{os.cpu_count()} CPUs, load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; as of {AS_OF}; data in {workdir}")
    try:
        main_set(bench, args.records)
        if not args.skip_postgres:
            postgres(bench, args.records)
        if not args.skip_growth:
            growth(bench, sizes)
    finally:
        if args.json:
            args.json.write_text(json.dumps(bench.results, indent=1) + "\n", encoding="utf-8")
        if not args.keep and not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    if bench.failures:
        print(f"\n{bench.failures} command(s) failed; see above.")
        sys.exit(1)


def dataset(bench: Bench, name: str, records: int, quiet: bool = False) -> Path:
    folder = bench.workdir / name
    if folder.exists():
        shutil.rmtree(folder)
    started = time.perf_counter()
    meta = orgdata.generate(folder, records)
    size = sum(p.stat().st_size for p in folder.iterdir()) / 2**20
    if not quiet:
        print(f"\n{name}: {meta['responses']:,} survey rows + {meta['tickets']:,} tickets, "
              f"{meta['customers']:,} customers, {meta['open_issues']:,} open issues of "
              f"{meta['issues']:,}; {size:,.0f} MB, generated in "
              f"{time.perf_counter() - started:.1f} s", flush=True)
    return folder


def store_of(config: Path) -> str:
    match = re.search(r'^url = "([^"]+)"', config.read_text(encoding="utf-8"), flags=re.M)
    return match.group(1) if match else ""


def main_set(bench: Bench, records: int) -> None:
    folder = dataset(bench, "main", records)
    config = folder / "bench.toml"
    store = store_of(config)
    print(f"  {'':<34} {'wall':>10}  {'peak RSS':>10}")
    cold = bench.cycle("cold cycle (SQLite)", config, store)
    bench.row(cold, target(cold.ok and cold.seconds <= 30 and cold.peak_mb < 1024)
              + " ≤ 30 s, < 1 GB", "cold")
    if cold.ok:
        print(f"    steps: {steps_text(cold)}")
    again = bench.cycle("second cycle, nothing new", config, store)
    bench.row(again, f"{share(again, cold)}; "
              + target(again.ok and cold.ok and again.seconds <= 0.05 * cold.seconds)
              + " ≤ 5 %", "nothing_new")
    started = time.perf_counter()
    orgdata.append(folder, max(1, records // 100))
    appended = time.perf_counter() - started
    more = bench.cycle("cycle after 1 % new records", config, store)
    bench.row(more, f"{share(more, cold)}; "
              + target(more.ok and cold.ok and more.seconds <= 0.10 * cold.seconds)
              + f" ≤ 10 % (appended in {appended:.1f} s)", "one_percent")
    if more.ok:
        print(f"    steps: {steps_text(more)}")
    report_file = folder / "report.json"
    report = bench.command("report --as-of (json)", [
        *impactlink(), "report", "--config", str(config), "--as-of", AS_OF, "--format", "json",
        "--output", str(report_file)], folder)
    compute = compute_seconds(cold)
    bench.row(report, (target(report.ok and report.seconds <= compute)
                       + f" ≤ the cold cycle's compute ({compute:.1f} s)")
              if compute is not None else "", "report")
    reference = folder / "duckdb.json"
    duck = bench.duckdb("DuckDB reference (same files)", config, reference)
    ratio = f"ours (cold) = {cold.seconds / duck.seconds:.1f} × DuckDB" if (
        duck.ok and cold.ok and duck.seconds) else ""
    bench.row(duck, ratio, "duckdb")
    if report.ok and duck.ok:
        text = agreement(report_file, reference)
        bench.results["agreement"] = text
        print(f"  report vs DuckDB: {text}")


def postgres(bench: Bench, records: int) -> None:
    url = bench.args.postgres_url
    why = prepare_postgres(url)
    if why:
        print(f"\nPostgreSQL skipped: {url} is not usable ({why}). "
              "Start a server or pass --postgres-url; --skip-postgres silences this.")
        bench.results["postgres"] = {"skipped": why}
        return
    folder = bench.workdir / "main"
    if not (folder / "orgdata.json").exists():
        folder = dataset(bench, "main", records)
    config = folder / "bench-postgres.toml"
    config.write_text(orgdata.config(folder, store=url), encoding="utf-8")
    print(f"\nPostgreSQL ({url}), the same files (with the 1 % appended)")
    cold = bench.cycle("cold cycle (PostgreSQL)", config, url)
    sqlite_seconds = bench.results.get("cold", {}).get("seconds")
    note = ""
    if cold.ok and sqlite_seconds:
        ratio = cold.seconds / sqlite_seconds
        note = f"{ratio:.2f} × SQLite; " + target(ratio <= 1.5) + " ≤ 1.5 ×"
    bench.row(cold, note, "postgres")
    if cold.ok:
        print(f"    steps: {steps_text(cold)}")


def growth(bench: Bench, sizes: list[int]) -> None:
    print("\nGrowth: cold cycle (SQLite) by records, beside DuckDB over the same files")
    print(f"  {'records':>10} {'wall':>9} {'peak RSS':>9} {'records/s':>10} "
          f"{'DuckDB':>8} {'DuckDB RSS':>10} {'ours/DuckDB':>11}")
    table = []
    for records in sizes:
        folder = dataset(bench, f"growth-{records}", records, quiet=True)
        config = folder / "bench.toml"
        ours = bench.cycle(f"cold cycle, {records:,} records", config, store_of(config))
        duck = bench.duckdb(f"DuckDB, {records:,} records", config, folder / "duckdb.json")
        row = {"records": records, "ok": ours.ok, "seconds": round(ours.seconds, 2),
               "peak_mb": round(ours.peak_mb), "duckdb_seconds": round(duck.seconds, 2),
               "duckdb_peak_mb": round(duck.peak_mb), "duckdb_ok": duck.ok}
        table.append(row)
        wall = f"{ours.seconds:8.1f}s" if ours.ok else f"{'failed':>9}"
        peak = f"{ours.peak_mb:7.0f}MB" if ours.ok else ""
        rate = f"{records / ours.seconds:10,.0f}" if ours.ok and ours.seconds else f"{'':>10}"
        dwall = f"{duck.seconds:7.1f}s" if duck.ok else f"{'failed':>8}"
        dpeak = f"{duck.peak_mb:8.0f}MB" if duck.ok else f"{'':>10}"
        ratio = f"{ours.seconds / duck.seconds:10.1f}×" if ours.ok and duck.ok else ""
        print(f"  {records:>10,} {wall} {peak:>9} {rate} {dwall} {dpeak} {ratio}", flush=True)
        if not bench.args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    bench.results["growth"] = table


if __name__ == "__main__":
    main()
