"""`make bench`: prepare benchmark databases, run every workload, write bench/results.md.

Each engine gets a fresh database (a temporary SQLite file; PostgreSQL database
``pipeworks_bench`` at ``BENCH_DATABASE_URL``), migrated, synced and holding a generated
ledger, so no figure is taken against empty tables. Each workload runs in a process of its
own. Figures with a target are printed as ratios against a baseline measured in the same
run, since absolute rates drift by up to 30% on these machines.
"""

import argparse
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
PG_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/pipeworks_bench")


def run(args, env, capture=False):
    result = subprocess.run(
        [PYTHON, *args],
        cwd=ROOT,
        env={**os.environ, **env},
        text=True,
        capture_output=capture,
        check=False,
    )
    if result.returncode != 0:
        sys.exit(
            f"failed: {' '.join(args)}\n{result.stdout if capture else ''}{result.stderr or ''}"
        )
    return result.stdout


def prepare(env, characters, events):
    run(["manage.py", "migrate", "-v0"], env)
    run(["manage.py", "sync_policies", "-v0"], env)
    run(
        [
            "manage.py",
            "generate_ledger",
            "--characters",
            str(characters),
            "--events",
            str(events),
            "-v0",
        ],
        env,
    )


def postgres_env():
    import psycopg

    admin = PG_URL.rsplit("/", 1)[0] + "/postgres"
    name = PG_URL.rsplit("/", 1)[1]
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return {"DATABASE_URL": PG_URL}


def span(figure):
    return f"{figure['median']:,.0f} [{figure['min']:,.0f}, {figure['max']:,.0f}]"


def summary(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="Small sizes, for a smoke run.")
    parser.add_argument("--engines", default="sqlite,postgresql")
    args = parser.parse_args()
    events = 200 if args.quick else 1000
    base = (200, 5000) if args.quick else (2000, 50000)

    report = {}
    with tempfile.TemporaryDirectory() as tmp:
        for engine in args.engines.split(","):
            env = (
                {"DATABASE_URL": f"sqlite:///{tmp}/bench.sqlite3"}
                if engine == "sqlite"
                else postgres_env()
            )
            print(f"[{engine}] preparing: {base[0]} characters, {base[1]} events", flush=True)
            prepare(env, *base)
            print(f"[{engine}] write workloads: {events} events x 3 runs", flush=True)
            out = run(["bench/workloads.py", "--events", str(events), "--runs", "3"], env, True)
            report[engine] = json.loads(out)
    write_results(report, quick=args.quick)


def write_results(report, *, quick):
    import django
    import psycopg

    lines = [
        "# Benchmark results",
        "",
        f"Written by `make bench`{' --quick' if quick else ''} on "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC.",
        "",
        f"- Machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
        f"- Python {platform.python_version()}, Django {django.get_version()}, "
        f"SQLite {sqlite3.sqlite_version}, psycopg {psycopg.__version__}",
        "- Medians of 3 runs, [min, max] in brackets. Ratios are product / baseline, measured in",
        "  the same run (targets: apply_event >= 0.5 x the raw-SQL floor).",
        "",
        "## Writes: apply_event against the raw-SQL floor (one event per transaction)",
        "",
        "| engine | deltas/event | floor ev/s | apply_event ev/s | ratio | queries/event |",
        "|---|---|---|---|---|---|",
    ]
    for engine, figures in report.items():
        for k in (1, 3):
            floor = summary(figures[f"floor_k{k}"])
            product = summary(figures[f"apply_event_k{k}"])
            ratios = [
                p / f
                for p, f in zip(figures[f"apply_event_k{k}"], figures[f"floor_k{k}"], strict=True)
            ]
            lines.append(
                f"| {engine} | {k} | {span(floor)} | {span(product)} "
                f"| {statistics.median(ratios):.2f} [{min(ratios):.2f}, {max(ratios):.2f}] "
                f"| {figures[f'queries_k{k}']} |"
            )
    lines.append("")
    lines += [
        "## Batch application: a world tick in one apply_events call",
        "",
        "| engine | events in the batch | one by one ev/s | apply_events ev/s | ratio |",
        "|---|---|---|---|---|",
    ]
    for engine, figures in report.items():
        ratios = [b / s for b, s in zip(figures["batch"], figures["batch_single"], strict=True)]
        lines.append(
            f"| {engine} | {figures['tick_size']} | {span(summary(figures['batch_single']))} "
            f"| {span(summary(figures['batch']))} "
            f"| {statistics.median(ratios):.1f} [{min(ratios):.1f}, {max(ratios):.1f}] |"
        )
    lines.append("")
    for engine, figures in report.items():
        lines.append(
            f"{engine}: verify_ledger over the {figures['verify_deltas']:,} deltas written, "
            f"the floor's included: {'clean' if figures['verify_clean'] else 'NOT CLEAN'}."
        )
        lines.append("")
    path = ROOT / "bench" / "results.md"
    path.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"written to {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
