"""Drift benchmarks: ``apply_drift`` against ``apply_events``, memory, catch-up and hold-up.

Run by ``bench/run.py`` (``make bench``) once per engine and ledger size, as
``bench/drift.py measure``, against a database that ``run.py`` prepared: migrated, the
world ``drift_bench`` (``write_world``: ``pipeworks_web``'s policy with three drifting
axes) synced from a scratch ``PIPEWORKS_WORLDS_DIR``, and a generated ledger. Every
measured call runs in a child process of its own (``bench/drift.py child ...``), so its
peak resident memory (``ru_maxrss``) is its own, and the figures at two ledger sizes
compare. Prints one JSON document on stdout.

The drift rules move scores by 1e-5 an hour, so that neither a one-hour nor a 30-day
catch-up takes a character to a bound or to its target: then each run moves every
character on every axis (a character already at a bound does not move), and the two
catch-ups can be compared row for row. What a run costs does not depend on the rate.

Before measuring, every character's ``created_at`` is moved 60 days back (a scratch
database), so the 30 days of drift apply in full. Each run sets the clocks back from
``until`` (the last whole hour) by the periods it is to apply.

- ``catch_up``: the rows (events, deltas, metadata) written by a one-hour catch-up, then
  by a 30-day one of hourly periods.
- ``runs``: ``apply_drift`` over one period, against the baseline ``apply_events``
  writing the same number of delta rows (one event per character, on its three drifting
  axes, ``--batch`` events per call), in alternating order. deltas/s counts the time in
  the call; the child's peak RSS and its growth over the RSS just before the call.
- ``tracemalloc``: the peak of Python allocations during one more run (untimed).
- ``chunks``: one run per ``PIPEWORKS_DRIFT_CHUNK`` of ``--chunks``: deltas/s, RSS,
  and the time of each chunk's transaction (median, max).
- ``holdup``: single ``apply_event`` calls (one delta on the non-drifting ``luck`` axis
  of a random character of the world, about 20 a second) while a drift run is in
  progress, against the same writer with no run: latency p50/p99/max and failures.
- ``verify``: ``verify_ledger`` over the whole ledger at the end.
"""

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pipeworks.settings")

WORLD = "drift_bench"
SOURCE_WORLD = ROOT / "data" / "worlds" / "pipeworks_web"
RULES = {
    "wealth": "{ rate: 0.00001, every: 1h }",
    "health": "{ rate: 0.00001, every: 1h, toward: 0.5 }",
    "demeanor": "{ rate: -0.00001, every: 1h }",
}
AXES = tuple(RULES)
WRITER_AXIS = "luck"
WRITER_INTERVAL = 0.05  # seconds between the starts of the hold-up writer's calls
CATCH_UP_PERIODS = 30 * 24
PERIOD = timedelta(hours=1)


def write_world(worlds_dir: Path) -> Path:
    """Write the world ``drift_bench`` into ``worlds_dir``: pipeworks_web with ``RULES``."""
    target = Path(worlds_dir) / WORLD
    shutil.copytree(SOURCE_WORLD, target)
    axes_file = target / "policies" / "axes.yaml"
    text = axes_file.read_text()
    for axis, rule in RULES.items():
        marker = f"  {axis}:\n"
        assert marker in text, f"axis {axis} moved in pipeworks_web; update bench/drift.py"
        text = text.replace(marker, f"{marker}    drift: {rule}\n", 1)
    axes_file.write_text(text)
    return target


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def rss_kib() -> int:
    """The resident memory of this process now, in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


# Children: one measured call each --------------------------------------------------------


def child_drift(args):
    """One ``apply_drift`` call; print its figures as JSON."""
    from django.conf import settings
    from django.db import connection

    from ledger.services import drift

    assert settings.PIPEWORKS_DRIFT_CHUNK == args.chunk  # set through the environment
    # Time each chunk's transaction (BEGIN to COMMIT): what a writer may wait for.
    transactions = []
    original = drift.atomic_commit

    class Timed:
        def __enter__(self):
            self.block = original()
            self.started = time.perf_counter()
            return self.block.__enter__()

        def __exit__(self, *exc):
            try:
                return self.block.__exit__(*exc)
            finally:
                transactions.append(time.perf_counter() - self.started)

    drift.atomic_commit = Timed
    connection.ensure_connection()
    until = datetime.fromisoformat(args.until)
    if args.tracemalloc:
        import tracemalloc

        tracemalloc.start()
    before = rss_kib()
    begin = time.time()
    started = time.perf_counter()
    run = drift.apply_drift(world_id=WORLD, until=until, source="command")
    seconds = time.perf_counter() - started
    end = time.time()
    figures = {
        "deltas": run.deltas,
        "events": sum(len(axis.events) for axis in run.axes),
        "periods": sorted({axis.periods for axis in run.axes}),
        "seconds": seconds,
        "begin": begin,
        "end": end,
        "chunk": args.chunk,
        "transactions": transactions,
        "rss_before_kib": before,
        "rss_peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }
    if args.tracemalloc:
        figures["tracemalloc_peak"] = tracemalloc.get_traced_memory()[1]
    json.dump(figures, sys.stdout)


def child_events(args):
    """``apply_events`` writing ``--deltas`` delta rows, ``--batch`` events per call."""
    from ledger.provenance import Actor
    from ledger.services import apply_events
    from worlds.models import Character

    rng = random.Random(args.seed)
    ids = list(Character.objects.filter(world=WORLD).order_by("pk").values_list("pk", flat=True))
    events = []
    remaining = args.deltas
    for character_id in ids:
        if remaining <= 0:
            break
        axes = AXES[: min(len(AXES), remaining)]
        remaining -= len(axes)
        change = rng.choice((-0.0001, 0.0001))
        events.append(
            {"event_type": "bench_tick", "deltas": {character_id: dict.fromkeys(axes, change)}}
        )
    assert remaining <= 0, "fewer characters than the deltas asked for"
    actor = Actor(name="bench-server", user_id=None)
    before = rss_kib()
    seconds = 0.0
    for start in range(0, len(events), args.batch):
        batch = events[start : start + args.batch]
        started = time.perf_counter()
        apply_events(world_id=WORLD, events=batch, actor=actor, source="api")
        seconds += time.perf_counter() - started
    json.dump(
        {
            "deltas": args.deltas,
            "events": len(events),
            "seconds": seconds,
            "rss_before_kib": before,
            "rss_peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        },
        sys.stdout,
    )


def child(arguments, *, env=None, background=False):
    """Run ``bench/drift.py child ...``; return its JSON (or the process, ``background``)."""
    process = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "child", *arguments],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    if background:
        return process
    return finish(process)


def finish(process):
    stdout, stderr = process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"bench/drift.py child failed:\n{stdout}\n{stderr}")
    return json.loads(stdout)


# The orchestrator ------------------------------------------------------------------------


def set_clocks(until: datetime, periods: int) -> None:
    from ledger.models import DriftClock

    updated = DriftClock.objects.filter(world_id=WORLD).update(
        applied_until=until - periods * PERIOD
    )
    assert updated == len(AXES), f"{updated} drift clocks in {WORLD}, expected {len(AXES)}"


def ledger_rows() -> dict[str, int]:
    from ledger.models import Event, EventEntityAxisDelta, EventMetadata

    return {
        "events": Event.objects.count(),
        "deltas": EventEntityAxisDelta.objects.count(),
        "metadata": EventMetadata.objects.count(),
    }


def drift_run(until, periods, chunk, *, tracemalloc=False, background=False):
    set_clocks(until, periods)
    arguments = ["drift", "--until", until.isoformat(), "--chunk", str(chunk)]
    if tracemalloc:
        arguments.append("--tracemalloc")
    return child(arguments, env={"PIPEWORKS_DRIFT_CHUNK": str(chunk)}, background=background)


def catch_up(until, chunk):
    """Rows written by a one-period catch-up, then by a 30-day one."""
    figures = {}
    for label, periods in (("1h", 1), ("30d", CATCH_UP_PERIODS)):
        before = ledger_rows()
        run = drift_run(until, periods, chunk)
        after = ledger_rows()
        figures[label] = {
            "periods": run["periods"],
            "seconds": run["seconds"],
            **{name: after[name] - before[name] for name in after},
        }
    return figures


def write_loop(keep_going, rng, character_ids, calls):
    """Apply one-delta events to random characters every WRITER_INTERVAL while asked to."""
    from ledger.exceptions import LedgerError
    from ledger.services import apply_event

    while keep_going():
        started_wall, started = time.time(), time.perf_counter()
        ok = True
        try:
            apply_event(
                world_id=WORLD,
                event_type="bench_writer",
                deltas={rng.choice(character_ids): {WRITER_AXIS: rng.choice((-1e-4, 1e-4))}},
                source="api",
            )
        except LedgerError:
            ok = False
        latency = time.perf_counter() - started
        calls.append((started_wall, latency, ok))
        time.sleep(max(0.0, WRITER_INTERVAL - latency))


def latency_figures(calls):
    latencies = [latency * 1000 for _, latency, _ in calls]
    if not latencies:
        return {"calls": 0}
    return {
        "calls": len(latencies),
        "failed": sum(1 for *_, ok in calls if not ok),
        "p50_ms": percentile(latencies, 0.5),
        "p99_ms": percentile(latencies, 0.99),
        "max_ms": max(latencies),
    }


def hold_up(until, chunks, quiet_seconds):
    """Writer latencies with no run, then during a drift run with each chunk size."""
    from django.db import connection

    from worlds.models import Character

    rng = random.Random(7)
    character_ids = list(Character.objects.filter(world=WORLD).values_list("pk", flat=True))
    calls = []
    deadline = time.monotonic() + quiet_seconds
    write_loop(lambda: time.monotonic() < deadline, rng, character_ids, calls)
    figures = {"quiet": latency_figures(calls), "during": {}}
    for chunk in chunks:
        process = drift_run(until, 1, chunk, background=True)
        calls = []
        write_loop(lambda p=process: p.poll() is None, rng, character_ids, calls)
        run = finish(process)
        during = [call for call in calls if run["begin"] <= call[0] <= run["end"]]
        figures["during"][str(chunk)] = {
            **latency_figures(during),
            "run_seconds": run["seconds"],
            "chunk_max_s": max(run["transactions"]),
            "chunk_p50_s": statistics.median(run["transactions"]),
        }
    connection.close()
    return figures


def measure(args):
    from django.conf import settings
    from django.db import connection

    from ledger.verification import verify_ledger
    from worlds.models import Character

    chunk = args.chunk or settings.PIPEWORKS_DRIFT_CHUNK
    until = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    characters = Character.objects.filter(world=WORLD).count()
    Character.objects.filter(world=WORLD).update(created_at=until - timedelta(days=60))
    results = {
        "engine": connection.vendor,
        "characters": characters,
        "axes": len(AXES),
        "chunk": chunk,
        "batch": args.batch,
        "runs": args.runs,
        "catch_up": catch_up(until, chunk),
    }
    deltas = results["catch_up"]["1h"]["deltas"]
    drift_runs, event_runs = [], []
    for run in range(args.runs):
        order = ["drift", "events"] if run % 2 == 0 else ["events", "drift"]
        for name in order:
            if name == "drift":
                drift_runs.append(drift_run(until, 1, chunk))
            else:
                event_runs.append(
                    child(
                        [
                            "events",
                            "--deltas",
                            str(deltas),
                            "--batch",
                            str(args.batch),
                            "--seed",
                            str(run),
                        ]
                    )
                )
    results["drift"] = [
        {key: value for key, value in r.items() if key != "transactions"}
        | {"chunk_max_s": max(r["transactions"])}
        for r in drift_runs
    ]
    results["apply_events"] = event_runs
    traced = drift_run(until, 1, chunk, tracemalloc=True)
    results["tracemalloc_peak"] = traced["tracemalloc_peak"]
    results["chunks"] = {}
    for size in args.chunks:
        r = drift_run(until, 1, size)
        results["chunks"][str(size)] = {
            "deltas": r["deltas"],
            "seconds": r["seconds"],
            "rss_peak_kib": r["rss_peak_kib"],
            "rss_before_kib": r["rss_before_kib"],
            "chunk_p50_s": statistics.median(r["transactions"]),
            "chunk_max_s": max(r["transactions"]),
            "transactions": len(r["transactions"]),
        }
    if args.holdup:
        quiet = max(5.0, statistics.median(r["seconds"] for r in drift_runs))
        results["holdup"] = hold_up(until, args.holdup, quiet)
    verification = verify_ledger()
    results["verify_clean"] = verification.clean
    results["verify_deltas"] = verification.deltas
    json.dump(results, sys.stdout)


def sizes(text):
    return [int(item) for item in text.split(",") if item]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    modes = parser.add_subparsers(dest="mode", required=True)
    m = modes.add_parser("measure", help="Every drift figure on the prepared database.")
    m.add_argument("--runs", type=int, default=3)
    m.add_argument(
        "--chunk", type=int, help="PIPEWORKS_DRIFT_CHUNK of the runs (default: the product's)."
    )
    m.add_argument("--batch", type=int, default=5000, help="Events per apply_events call.")
    m.add_argument(
        "--chunks", type=sizes, default=[], help="Chunk sizes to compare, e.g. 500,2000."
    )
    m.add_argument("--holdup", type=sizes, default=[], help="Chunk sizes to measure hold-up with.")
    c = modes.add_parser("child", help="One measured call (run by measure).")
    kinds = c.add_subparsers(dest="kind", required=True)
    d = kinds.add_parser("drift")
    d.add_argument("--until", required=True)
    d.add_argument("--chunk", type=int, required=True)
    d.add_argument("--tracemalloc", action="store_true")
    e = kinds.add_parser("events")
    e.add_argument("--deltas", type=int, required=True)
    e.add_argument("--batch", type=int, required=True)
    e.add_argument("--seed", type=int, default=0)
    w = modes.add_parser("world", help="Write the world drift_bench into a worlds directory.")
    w.add_argument("worlds_dir", type=Path)
    args = parser.parse_args()
    if args.mode == "world":
        write_world(args.worlds_dir)
        return
    import django

    django.setup()
    if args.mode == "measure":
        measure(args)
    elif args.kind == "drift":
        child_drift(args)
    else:
        child_events(args)


if __name__ == "__main__":
    main()
