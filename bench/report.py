"""The Markdown report of ``make bench``: ``bench/results.md``, from ``bench/run.py``'s figures.

``write_results`` writes one section per part of the run that has figures (writes, the write path,
reads, maintenance, policy sync, HTTP, drift, world statistics, the capacity model) and prints
the report too.
"""

import os
import platform
import sqlite3
import statistics
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
READ_TARGET = 1.3
DRIFT_RATE_TARGET = 0.5  # apply_drift deltas/s >= this x apply_events writing as many deltas
DRIFT_MEMORY_TARGET = 1.5  # peak memory at the biggest world <= this x at the smallest
WRITE_PATH_TARGET = 0.6  # apply_event ev/s >= this x the minimal floor's
FLOOR_WRITERS = "1,786 ev/s on distinct characters and 1,433 ev/s on one character (k=1)"


def span(figure):
    return f"{figure['median']:,.0f} [{figure['min']:,.0f}, {figure['max']:,.0f}]"


def summary(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def write_results(report, *, quick, path=None):
    import django
    import psycopg

    lines = [
        "# Benchmark results",
        "",
        f"Written by `make bench`{' --quick' if quick else ''} on "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC in {report['minutes']:.1f} minutes.",
        "",
        f"- Machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
        f"- Python {platform.python_version()}, Django {django.get_version()}, "
        f"SQLite {sqlite3.sqlite_version}, psycopg {psycopg.__version__}",
        "- Medians of 3 runs, [min, max] in brackets. Ratios are product / baseline, measured in",
        "  the same run (targets: apply_event >= 0.5 x the raw-SQL floor; reads on the big",
        f"  ledger <= {READ_TARGET} x the small one; maintenance memory flat).",
        "",
    ]
    if report["writes"]:
        lines += write_sections(report["writes"])
    if report.get("write_path"):
        lines += write_path_section(report["write_path"])
    if report["scale"]:
        lines += read_section(report["scale"], quick=quick)
        lines += maintenance_section(report["scale"])
        lines += policy_section(report["scale"])
    if report["http"]:
        lines += http_section(report["http"])
    if report.get("http_api"):
        lines += http_api_section(report["http_api"])
    if report.get("drift"):
        lines += drift_section(report["drift"])
    if report.get("stats"):
        lines += stats_section(report["stats"])
    if report.get("capacity"):
        lines += capacity_section(report["capacity"])
    path = Path(path or ROOT / "bench" / "results.md").resolve()
    path.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"written to {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


def write_sections(writes):
    lines = [
        "## Writes: apply_event against the raw-SQL floor (one event per transaction)",
        "",
        "| engine | deltas/event | floor ev/s | apply_event ev/s | ratio | queries/event |",
        "|---|---|---|---|---|---|",
    ]
    for engine, figures in writes.items():
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
    for engine, figures in writes.items():
        ratios = [b / s for b, s in zip(figures["batch"], figures["batch_single"], strict=True)]
        lines.append(
            f"| {engine} | {figures['tick_size']} | {span(summary(figures['batch_single']))} "
            f"| {span(summary(figures['batch']))} "
            f"| {statistics.median(ratios):.1f} [{min(ratios):.1f}, {max(ratios):.1f}] |"
        )
    lines.append("")
    for engine, figures in writes.items():
        lines.append(
            f"{engine}: verify_ledger over the {figures['verify_deltas']:,} deltas written, "
            f"the floor's included: {'clean' if figures['verify_clean'] else 'NOT CLEAN'}."
        )
        lines.append("")
    return lines


def write_path_section(write_path):
    first = next(iter(write_path.values()))
    lines = [
        "## Write path: apply_event against today's floor and the minimal floor",
        "",
        f"World `write_bench` (`bench/write_path.py`: {first['axes']} axes), "
        f"{first['characters']:,} characters with about 20 events of history each. One event "
        "per transaction on a random character, k random axes, deltas of +-0.01, 2 metadata "
        f"keys, with an API request's provenance; {first['events_per_run']} events per writer, "
        f"k and run, {first['runs']} runs, the writers taking turns. Today's floor "
        "(`bench/floor.py`) sends apply_event's own statements by hand; the minimal floor "
        "(`bench/minimal_floor.py`) the fewest: lock the character and its scores, insert "
        "the event, its deltas, its metadata, update the scores, update the snapshot. "
        "SQLite: `synchronous=FULL` on all sides. Queries: what apply_event sends, "
        f"BEGIN and COMMIT included. Target: apply_event >= {WRITE_PATH_TARGET} x the "
        "minimal floor.",
        "",
        "| engine | k | minimal floor ev/s | today's floor ev/s | apply_event ev/s "
        "| apply_event / minimal | apply_event / today's floor | queries |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for engine, figures in write_path.items():
        for k in (1, 3):
            product = figures[f"apply_event_k{k}"]

            def ratio(baseline, product=product):
                values = [p / b for p, b in zip(product, baseline, strict=True)]
                return f"{statistics.median(values):.2f} [{min(values):.2f}, {max(values):.2f}]"

            minimal = figures[f"minimal_k{k}"]
            met = (
                statistics.median(p / m for p, m in zip(product, minimal, strict=True))
                >= WRITE_PATH_TARGET
            )
            lines.append(
                f"| {engine} | {k} | {span(summary(minimal))} "
                f"| {span(summary(figures[f'floor_k{k}']))} | {span(summary(product))} "
                f"| {ratio(minimal)}{'' if met else ' **MISSED**'} "
                f"| {ratio(figures[f'floor_k{k}'])} | {figures[f'queries_k{k}']} |"
            )
    lines.append("")
    for engine, figures in write_path.items():
        lines.append(
            f"{engine}: verify_ledger over the {figures['verify_deltas']:,} deltas written, "
            f"both floors' included: {'clean' if figures['verify_clean'] else '**NOT CLEAN**'}."
        )
        lines.append("")
    return lines


def ms(values):
    return f"{statistics.median(values):.1f}"


def read_section(scale, *, quick):
    first = next(iter(scale.values()))
    small, big = list(first["reads"])[0], list(first["reads"])[-1]
    lines = [
        f"## Reads: {small} against {big} events",
        "",
        "The ledger grows in stages, each by `manage.py generate_ledger` "
        "(PostgreSQL: then `VACUUM ANALYZE`, as autovacuum would; SQLite gets no `ANALYZE`, "
        "as in production):",
        "",
    ]
    for label, arguments, _ in first["stages"]:
        lines.append(f"- {label}: `generate_ledger {arguments}`")
    sample = first["reads"][small]
    lines += [
        "",
        f"Requests in-process through `django.test.Client` as a superuser (`force_login`), "
        f"{sample['requests']} per endpoint and run, each to a random character of "
        "`pipeworks_web` (as_of: a random event of that character), 3 runs. p50 and p99 in ms "
        "are medians over the runs; SQL is the p50 of the time spent in queries; queries "
        "and KB are those of one request (KB: the response body). "
        f"Target: p50 at {big} <= {READ_TARGET} x p50 at {small}; the same queries at both "
        "sizes.",
        "",
        f"| engine | endpoint | p50 {small} | p50 {big} | ratio | p99 {small} | p99 {big} "
        f"| SQL p50 {small} → {big} | queries {small} / {big} | KB {small} / {big} |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for engine, figures in scale.items():
        low, high = figures["reads"][small], figures["reads"][big]
        for name, a in low["endpoints"].items():
            b = high["endpoints"][name]
            ratio = statistics.median(b["p50"]) / statistics.median(a["p50"])
            verdict = "flat" if ratio <= READ_TARGET else "**NOT FLAT**"
            queries = "/".join(map(str, a["queries"])) + " / " + "/".join(map(str, b["queries"]))
            if a["queries"] != b["queries"]:
                queries += " (differ)"
            lines.append(
                f"| {engine} | `{name}` | {ms(a['p50'])} | {ms(b['p50'])} "
                f"| {ratio:.2f} {verdict} | {ms(a['p99'])} | {ms(b['p99'])} "
                f"| {ms(a['sql_p50'])} → {ms(b['sql_p50'])} | {queries} "
                f"| {a['bytes'] / 1000:.0f} / {b['bytes'] / 1000:.0f} |"
            )
    lines.append("")
    for engine, figures in scale.items():
        sizes = ", ".join(
            f"{label}: {r['events']:,} events, {r['deltas']:,} deltas, "
            f"{r['characters']:,} characters"
            for label, r in figures["reads"].items()
        )
        built = ", ".join(f"{label} in {seconds:.0f} s" for label, _, seconds in figures["stages"])
        lines.append(f"{engine}: {sizes}; stages built {built}.")
        lines.append("")
    return lines


def maintenance_section(scale):
    first = next(iter(scale.values()))
    small, big = list(first["maintenance"])[0], list(first["maintenance"])[-1]
    runs = len(first["maintenance"][small]["verify_ledger"]["seconds"])
    lines = [
        f"## Maintenance: verify_ledger and rebuild_scores at {small} and {big} events",
        "",
        f"Each command a `manage.py` subprocess, {runs} run(s); seconds are wall time, "
        "RSS the child's peak resident memory (`os.wait4`). Same characters at both sizes: "
        "the histories grow, the population does not. Target: RSS ratio about 1 (memory "
        "does not grow with the ledger).",
        "",
        f"| engine | command | deltas {small} / {big} | s {small} | s {big} "
        f"| RSS MiB {small} | RSS MiB {big} | RSS ratio | result |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for engine, figures in scale.items():
        low, high = figures["maintenance"][small], figures["maintenance"][big]
        for name in ("verify_ledger", "rebuild_scores"):
            a, b = low[name], high[name]
            rss_a = statistics.median(a["rss_kib"]) / 1024
            rss_b = statistics.median(b["rss_kib"]) / 1024
            if name == "verify_ledger":
                deltas = f"{a['deltas']:,} / {b['deltas']:,}"
                result = "clean" if a["clean"] and b["clean"] else "**NOT CLEAN**"
            else:
                deltas = "same"
                result = "; ".join(b["output"])
            lines.append(
                f"| {engine} | {name} | {deltas} | {span1(a['seconds'])} | {span1(b['seconds'])} "
                f"| {rss_a:.0f} | {rss_b:.0f} | {rss_b / rss_a:.2f} | {result} |"
            )
    lines.append("")
    return lines


def span1(values):
    figure = summary(values)
    if len(values) == 1:
        return f"{figure['median']:.1f}"
    return f"{figure['median']:.1f} [{figure['min']:.1f}, {figure['max']:.1f}]"


def policy_section(scale):
    first = next(iter(scale.values()))["policies"]
    lines = [
        "## Policy sync",
        "",
        f"No-op: {first['worlds']} copies of the fixture world `alpha` in a temporary "
        "PIPEWORKS_WORLDS_DIR, synced once, then `sync_world_policies()` again "
        f"({first['runs']} runs), in-process; statements and writes (INSERT, UPDATE, DELETE) "
        "counted with `CaptureQueriesContext`; target: 0 writes. Change: the description of "
        "an axis of `pipeworks_web` edited (a new policy hash), on the biggest ledger: the "
        "sync re-derives every snapshot of the world.",
        "",
        "| engine | worlds | no-op s | no-op statements | no-op writes | change: snapshots "
        "| change s | snapshots/s | change writes |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for engine, figures in scale.items():
        p = figures["policies"]
        rate = statistics.median(p["change_snapshots"]) / statistics.median(p["change_seconds"])
        lines.append(
            f"| {engine} | {p['worlds']} | {span2(p['noop_seconds'])} "
            f"| {max(p['noop_statements'])} | {max(p['noop_writes'])} "
            f"| {statistics.median(p['change_snapshots']):,.0f} | {span2(p['change_seconds'])} "
            f"| {rate:,.0f} | {max(p['change_writes'])} |"
        )
    lines.append("")
    return lines


def span2(values):
    figure = summary(values)
    return f"{figure['median']:.2f} [{figure['min']:.2f}, {figure['max']:.2f}]"


def http_section(http):
    lines = [
        "## Concurrent writers over HTTP (PostgreSQL)",
        "",
        f"gunicorn with {http['workers']} sync workers, {http['clients']} client processes, "
        f"each POSTing {http['events_per_client']} one-delta events per run to "
        "`/admin/characters/<id>/axis-events` (token auth, a new connection per request), "
        f"{http['runs']} run(s); world `alpha` with {http['characters']:,} characters and "
        f"{http['history']:,} events of history first. ev/s counts 201 answers over the "
        "wall time of the run; latencies are per request, in ms, medians over runs. "
        "`CONN_MAX_AGE` is the product's setting: 0 (the default) opens a database "
        "connection per request.",
        "",
        "| CONN_MAX_AGE | characters | events/run | ev/s | p50 ms | p99 ms | answers |",
        "|---|---|---|---|---|---|---|",
    ]
    for max_age, patterns in http["configs"].items():
        for pattern, runs in patterns.items():
            statuses = {}
            for one in runs:
                for status, n in one["statuses"].items():
                    statuses[status] = statuses.get(status, 0) + n
            rates = summary([r["rate"] for r in runs])
            lines.append(
                f"| {max_age} | {'one per client' if pattern == 'disjoint' else 'one shared'} "
                f"| {runs[0]['events']} | {span(rates)} "
                f"| {ms([r['p50'] for r in runs])} | {ms([r['p99'] for r in runs])} "
                f"| {', '.join(f'{n} x {s}' for s, n in sorted(statuses.items()))} |"
            )
    lines += [
        "",
        f"After the runs: {http['verify']}.",
        "",
        f"For scale only (not a target): the raw-SQL floor in PERFORMANCE-NOTES does "
        f"{FLOOR_WRITERS} with 4 writers and no HTTP, Django or authentication; measured "
        "on a quieter day, so compare orders of magnitude, not digits.",
        "",
    ]
    return lines


def http_api_section(http):
    """API writes over keep-alive HTTP against the same writes in-process (bench/http_api.py)."""
    lines = [
        "## API writes over HTTP against in-process (PostgreSQL)",
        "",
        f"gunicorn with {http['workers']} workers (`{http['gunicorn']}`), cache "
        f"{http['cache']}; N client processes each keep one HTTP/1.1 connection (reopened "
        "when the server closes it: `connections` counts them) and POST "
        f"{http['events_per_client']} one-delta events to "
        "`/admin/characters/<id>/axis-events` with an API key, against N processes calling "
        "`apply_event` with an API request's provenance, alternating, in the same run; "
        f"{http['runs']} run(s); world `alpha` with {http['characters']:,} characters and "
        f"{http['history']:,} events of history. Medians over runs [min, max]; latencies "
        "in ms. Target: HTTP >= 0.5 x in-process.",
        "",
        "| N | characters | HTTP ev/s | in-process ev/s | ratio | HTTP p50 / p99 | "
        "in-process p50 / p99 | connections |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for clients, patterns in http["single"].items():
        for pattern, modes in patterns.items():
            web = [run["rate"] for run in modes["http"]]
            local = [run["rate"] for run in modes["inprocess"]]
            ratios = [w / p for w, p in zip(web, local, strict=True)]
            lines.append(
                f"| {clients} | {'one per client' if pattern == 'disjoint' else 'one shared'} "
                f"| {span(summary(web))} | {span(summary(local))} | {span2(ratios)} "
                f"| {ms([r['p50'] for r in modes['http']])} / "
                f"{ms([r['p99'] for r in modes['http']])} "
                f"| {ms([r['p50'] for r in modes['inprocess']])} / "
                f"{ms([r['p99'] for r in modes['inprocess']])} "
                f"| {max(r['connections'] for r in modes['http'])} |"
            )
    web = [run["rate"] for run in http["batch"]["http"]]
    local = [run["rate"] for run in http["batch"]["inprocess"]]
    ratios = [w / p for w, p in zip(web, local, strict=True)]
    lines += [
        "",
        f"A world tick of {http['tick']:,} one-delta events: `POST /admin/events:batch` "
        f"{span(summary(web))} ev/s, `apply_events` in-process {span(summary(local))} ev/s, "
        f"ratio {span2(ratios)} over {len(ratios)} pairs (target >= 0.7).",
        "",
        f"After the runs: {http['verify']}.",
        "",
    ]
    return lines


def mib(kib):
    return f"{kib / 1024:.0f}"


def drift_section(drift):
    first = next(iter(drift.values()))
    sizes = list(first)
    small = first[sizes[0]]
    lines = [
        "## Drift: apply_drift against apply_events",
        "",
        f"World `drift_bench` (`bench/drift.py`): `pipeworks_web` with {small['axes']} "
        "drifting axes (1e-5 an hour, so no run takes a character to a bound), grown by "
        "`generate_ledger` to each size (a genesis and one random event per character). "
        f"Each drift run applies one hourly period with `PIPEWORKS_DRIFT_CHUNK={small['chunk']}`"
        " (every character moves on every axis, bar the few at a bound); the baseline is "
        "`apply_events` writing the same number of delta rows (one event per character with "
        f"its {small['axes']} axes, {small['batch']} events per call), in the same run, order "
        f"alternating; {small['runs']} run(s). Each call in a child process of its own: "
        "deltas/s over the time in the call; RSS is the child's peak (`ru_maxrss`), growth "
        "its rise over the RSS just before the call; tracemalloc the peak of Python "
        "allocations in one more (untimed) run. "
        f"Targets: ratio >= {DRIFT_RATE_TARGET}; memory at the big world <= "
        f"{DRIFT_MEMORY_TARGET} x the small one.",
        "",
        "| engine | characters | deltas/run | apply_drift deltas/s | apply_events deltas/s "
        "| ratio | RSS MiB | RSS growth MiB | tracemalloc MiB | longest chunk s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for engine, stages in drift.items():
        for characters, f in stages.items():
            drift_rates = [r["deltas"] / r["seconds"] for r in f["drift"]]
            event_rates = [r["deltas"] / r["seconds"] for r in f["apply_events"]]
            ratios = [d / e for d, e in zip(drift_rates, event_rates, strict=True)]
            peak = statistics.median(r["rss_peak_kib"] for r in f["drift"])
            growth = statistics.median(r["rss_peak_kib"] - r["rss_before_kib"] for r in f["drift"])
            verdict = "" if min(ratios) >= DRIFT_RATE_TARGET else " **MISSED**"
            lines.append(
                f"| {engine} | {int(characters):,} | {f['drift'][0]['deltas']:,} "
                f"| {span(summary(drift_rates))} | {span(summary(event_rates))} "
                f"| {statistics.median(ratios):.2f} [{min(ratios):.2f}, {max(ratios):.2f}]"
                f"{verdict} | {mib(peak)} | {mib(growth)} "
                f"| {f['tracemalloc_peak'] / 2**20:.0f} "
                f"| {max(r['chunk_max_s'] for r in f['drift']):.2f} |"
            )
    lines.append("")
    for engine, stages in drift.items():
        low, high = stages[sizes[0]], stages[sizes[-1]]

        def ratio(key, low=low, high=high):
            return key(high) / key(low)

        rss = ratio(lambda f: statistics.median(r["rss_peak_kib"] for r in f["drift"]))
        growth = ratio(
            lambda f: statistics.median(r["rss_peak_kib"] - r["rss_before_kib"] for r in f["drift"])
        )
        traced = ratio(lambda f: f["tracemalloc_peak"])
        worst = max(rss, growth, traced)
        verdict = "within target" if worst <= DRIFT_MEMORY_TARGET else "**MISSED**"
        lines.append(
            f"{engine}: memory at {int(sizes[-1]):,} / {int(sizes[0]):,} characters: RSS peak "
            f"{rss:.2f}, RSS growth {growth:.2f}, tracemalloc peak {traced:.2f} ({verdict}). "
            f"verify_ledger after the runs: "
            f"{'clean' if all(f['verify_clean'] for f in stages.values()) else '**NOT CLEAN**'}."
        )
        lines.append("")
    lines += [
        "### Catch-up: one hour against 30 days of hourly drift",
        "",
        "Rows written to the ledger by a run whose clocks stood one period back, then by one "
        "whose clocks stood 720 periods (30 days) back. Target: the same rows.",
        "",
        "| engine | characters | 1 h: events / deltas / metadata | 30 d: events / deltas / "
        "metadata | s 1 h | s 30 d | same rows |",
        "|---|---|---|---|---|---|---|",
    ]
    for engine, stages in drift.items():
        for characters, f in stages.items():
            one, month = f["catch_up"]["1h"], f["catch_up"]["30d"]
            rows = [(r["events"], r["deltas"], r["metadata"]) for r in (one, month)]
            lines.append(
                f"| {engine} | {int(characters):,} | {' / '.join(f'{n:,}' for n in rows[0])} "
                f"| {' / '.join(f'{n:,}' for n in rows[1])} | {one['seconds']:.1f} "
                f"| {month['seconds']:.1f} | {'yes' if rows[0] == rows[1] else '**NO**'} |"
            )
    lines.append("")
    chunked = [(e, c, f) for e, stages in drift.items() for c, f in stages.items() if f["chunks"]]
    if chunked:
        lines += [
            "### PIPEWORKS_DRIFT_CHUNK",
            "",
            "One run per chunk size. A chunk's transaction (BEGIN to COMMIT) is what a writer "
            "on its characters waits for (on SQLite: any writer).",
            "",
            "| engine | characters | chunk | deltas/s | chunk s p50 | chunk s max | RSS MiB "
            "| RSS growth MiB |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for engine, characters, f in chunked:
            for size, c in f["chunks"].items():
                lines.append(
                    f"| {engine} | {int(characters):,} | {int(size):,} "
                    f"| {c['deltas'] / c['seconds']:,.0f} | {c['chunk_p50_s']:.2f} "
                    f"| {c['chunk_max_s']:.2f} | {mib(c['rss_peak_kib'])} "
                    f"| {mib(c['rss_peak_kib'] - c['rss_before_kib'])} |"
                )
        lines.append("")
    held = [(e, c, f) for e, stages in drift.items() for c, f in stages.items() if f.get("holdup")]
    if held:
        lines += [
            "### Hold-up: writers during a drift run",
            "",
            "One writer process applying single one-delta events (`apply_event`, the "
            "non-drifting axis `luck`) to random characters of the drifting world, one call "
            "every 50 ms at most, first with no run, then during a drift run with each chunk "
            "size (calls that started during the run). Latencies in ms. Target: a writer on "
            "other characters waits about a second at most.",
            "",
            "| engine | characters | chunk | calls | p50 | p99 | max | failed | run s "
            "| chunk s max |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for engine, characters, f in held:
            quiet = f["holdup"]["quiet"]
            lines.append(
                f"| {engine} | {int(characters):,} | no run | {quiet['calls']} "
                f"| {quiet['p50_ms']:.1f} | {quiet['p99_ms']:.1f} | {quiet['max_ms']:.1f} "
                f"| {quiet['failed']} | | |"
            )
            for size, h in f["holdup"]["during"].items():
                if not h["calls"]:
                    continue
                lines.append(
                    f"| {engine} | {int(characters):,} | {int(size):,} | {h['calls']} "
                    f"| {h['p50_ms']:.1f} | {h['p99_ms']:.1f} | {h['max_ms']:,.1f} "
                    f"| {h['failed']} | {h['run_seconds']:.1f} | {h['chunk_max_s']:.2f} |"
                )
        lines.append("")
    return lines


def stats_section(stats):
    first = next(iter(stats.values()))
    small, big = list(first)[0], list(first)[-1]
    a0, b0 = first[small], first[big]
    lines = [
        f"## World statistics: {small} against {big} events, the same window",
        "",
        "The world page (its population and event panels) and `GET /admin/worlds/{id}/stats` "
        "with the default 7-day window (`bench/stats.py`), on two ledgers of the same "
        f"population ({a0['characters']:,} characters of `pipeworks_web`, 6 axes), each "
        "built by `generate_ledger --span-days` in a fresh database (PostgreSQL: then "
        f"`VACUUM ANALYZE`): {small} spread over {a0['days']} days (the genesis events in the "
        f"first week, the rest in the window), {big} over {b0['days']} days, so both windows "
        "hold about the same number of events. Requests in-process as a superuser, "
        f"{a0['requests']} per request and run, 3 runs (the 30d and all windows: 5, one run). "
        f"Target: p50 at {big} <= {READ_TARGET} x p50 at {small} for the default window; the "
        "same queries.",
        "",
        f"| engine | request | window events {small} / {big} | p50 {small} | p50 {big} "
        f"| ratio | p99 {small} | p99 {big} | SQL p50 {small} → {big} "
        f"| queries {small} / {big} |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for engine, figures in stats.items():
        low, high = figures[small], figures[big]
        for name, a in low["endpoints"].items():
            b = high["endpoints"][name]
            ratio = statistics.median(b["p50"]) / statistics.median(a["p50"])
            default = "window" not in name
            verdict = ("flat" if ratio <= READ_TARGET else "**NOT FLAT**") if default else "(wider)"
            events = (
                "—"
                if a["window_events"] is None
                else f"{a['window_events']:,} / {b['window_events']:,}"
            )
            queries = f"{a['queries']} / {b['queries']}"
            if a["queries"] != b["queries"]:
                queries += " (differ)"
            lines.append(
                f"| {engine} | {name} | {events} | {ms(a['p50'])} | {ms(b['p50'])} "
                f"| {ratio:.2f} {verdict} | {ms(a['p99'])} | {ms(b['p99'])} "
                f"| {ms(a['sql_p50'])} → {ms(b['sql_p50'])} | {queries} |"
            )
    lines.append("")
    for engine, figures in stats.items():
        parts = "; ".join(
            f"{label}: distributions {r['parts']['distributions']:.1f} ms, 7-day window "
            f"statistics {r['parts']['window 7d']:.1f} ms ({r['events']:,} events, "
            f"{r['deltas']:,} deltas, built in {r['built_s']:.0f} s)"
            for label, r in figures.items()
        )
        lines.append(f"{engine}: {parts}.")
        lines.append("")
    return lines


def capacity_section(capacity):
    """The measured capacity model (``bench/capacity.py``): reads, writes, CPU, ledger bytes."""
    generated = capacity["generated"]
    events = generated["event"]["rows"]
    lines = [
        "## Capacity model (PostgreSQL, servers of its own)",
        "",
        f"`bench/capacity.py`, {capacity['date']}: a private PostgreSQL {capacity['server']} "
        "primary (`tests/pgcluster.py`: fsync off, `shared_buffers` 128MB) with world `alpha` "
        f"({capacity['characters']:,} characters) and a ledger of {events:,} events "
        "(`generate_ledger --world alpha --existing`), its streaming replica "
        f"(`pg_basebackup -R`), gunicorn with {capacity['workers']} sync workers "
        "(`CONN_MAX_AGE=60`), client processes on persistent `http.client` connections "
        f"(gunicorn's sync workers close each one), {capacity['phase_seconds']:.0f} s per "
        f"phase after a warm-up, {capacity['runs']} run(s) of each configuration, order "
        f"alternating; {capacity['cpus']} CPUs shared by every process (clients, gunicorn, "
        "both servers, PgBouncer) and by other sessions' work: load is the 1-minute load "
        "average. CPU: utime + stime of each server's process tree from `/proc` "
        "(postmaster, backends, reaped backends), over the phase. Medians over runs, "
        "[min, max] in brackets.",
        "",
    ]
    lines += _capacity_reads(capacity["reads"])
    lines += _capacity_writes(capacity["writes"], capacity.get("pgbouncer"))
    lines += _capacity_ledger(capacity)
    return lines


def _runs(rows, config):
    return [row for row in rows if row["config"] == config]


def _ratio(rows, config, baseline):
    values = [
        a["rate"] / b["rate"]
        for a, b in zip(_runs(rows, config), _runs(rows, baseline), strict=True)
    ]
    return f"{statistics.median(values):.2f} [{min(values):.2f}, {max(values):.2f}]"


def _capacity_reads(reads):
    first = reads[0]
    lines = [
        "### Reads: one primary against a primary and its replica",
        "",
        f"{first['clients']} clients, each GETting in turn `axis-state` and "
        "`axis-events?limit=50` (a read-only API key) and the admin character page "
        "(a logged-in session) of random characters. PG CPU per read: the primary's and the "
        "replica's CPU over the phase, per read; transactions: `xact_commit` of both. "
        "Replica share: the replica's part of the transactions and of the rows returned "
        "(`pg_stat_database` of both servers over the phase): who-may-do-what (the API "
        "key, the session, the read-your-writes mark in the cache table) is always read "
        "on the primary.",
        "",
        "| configuration | reads/s | p50 ms | p99 ms | p50 ms state / events / page "
        "| PG CPU ms per read: primary + replica | reads per PG CPU-s "
        "| gunicorn CPU ms per read | transactions per read | replica share: xacts, rows "
        "| load | answers |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for config in ("primary", "primary + replica"):
        runs = _runs(reads, config)
        pg = [r["cpu"]["primary"] + r["cpu"]["replica"] for r in runs]
        per_cpu = [r["reads"] / c for r, c in zip(runs, pg, strict=True)]
        app = [1000 * r["cpu"]["gunicorn"] / r["reads"] for r in runs]
        xacts = [
            r["stats"]["replica"]["xact_commit"]
            / (r["stats"]["replica"]["xact_commit"] + r["stats"]["primary"]["xact_commit"])
            for r in runs
        ]
        rows = [
            r["stats"]["replica"]["tup_returned"]
            / (r["stats"]["replica"]["tup_returned"] + r["stats"]["primary"]["tup_returned"])
            for r in runs
        ]
        cpu = (
            f"{statistics.median(1000 * r['cpu']['primary'] / r['reads'] for r in runs):.1f} + "
            f"{statistics.median(1000 * r['cpu']['replica'] / r['reads'] for r in runs):.1f}"
        )
        transactions = statistics.median(
            (r["stats"]["primary"]["xact_commit"] + r["stats"]["replica"]["xact_commit"])
            / r["reads"]
            for r in runs
        )
        endpoints = " / ".join(
            ms([r["endpoints"][name]["p50"] for r in runs])
            for name in ("axis-state", "axis-events", "admin character page")
        )
        statuses = {}
        for r in runs:
            for status, n in r["statuses"].items():
                statuses[status] = statuses.get(status, 0) + n
        lines.append(
            f"| {config} | {span(summary([r['rate'] for r in runs]))} "
            f"| {ms([r['p50'] for r in runs])} | {ms([r['p99'] for r in runs])} | {endpoints} "
            f"| {cpu} "
            f"| {span(summary(per_cpu))} | {span1(app)} | {transactions:.1f} "
            f"| {statistics.median(xacts):.0%}, {statistics.median(rows):.0%} "
            f"| {span1([r['load'] for r in runs])} "
            f"| {', '.join(f'{n} x {s}' for s, n in sorted(statuses.items()))} |"
        )
    lines += [
        "",
        "Reads/s with the replica / without, run by run: "
        f"{_ratio(reads, 'primary + replica', 'primary')}.",
        "",
    ]
    return lines


def _capacity_writes(writes, pgbouncer):
    first = writes[0]
    via = (
        f"{pgbouncer['version']} in transaction mode, pool size "
        f"{pgbouncer['pool_size']} (`PIPEWORKS_PGBOUNCER=transaction`)"
        if pgbouncer
        else "PgBouncer not installed: not measured"
    )
    lines = [
        "### Writes: straight to PostgreSQL against PgBouncer",
        "",
        f"{first['clients']} clients, each POSTing one-delta events with 2 metadata keys to "
        "characters of its own (`/admin/characters/<id>/axis-events`, one API key, "
        f"`PIPEWORKS_API_WRITE_RATE` raised so it does not cut them off); direct, and via {via}. "
        "ev/s counts 201 answers over the phase. Transactions: `xact_commit` of the "
        "database on the primary over the phase, per event; PgBouncer xacts: transactions "
        "it passed to PostgreSQL during the phase (`SHOW STATS`), the proof it carried them.",
        "",
        "| configuration | ev/s | p50 ms | p99 ms | PG CPU ms per event | events per PG CPU-s "
        "| gunicorn CPU ms per event | PgBouncer CPU ms per event | transactions per event "
        "| PgBouncer xacts | load | answers |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    configs = list(dict.fromkeys(r["config"] for r in writes))
    for config in configs:
        runs = _runs(writes, config)
        per_cpu = [r["events"] / r["cpu"]["primary"] for r in runs]
        cpu = span1([1000 * r["cpu"]["primary"] / r["events"] for r in runs])
        transactions = statistics.median(r["xact_commit"] / r["events"] for r in runs)
        app = [1000 * r["cpu"]["gunicorn"] / r["events"] for r in runs]
        pooler = (
            span2([1000 * r["cpu"]["pgbouncer"] / r["events"] for r in runs])
            if "pgbouncer" in runs[0]["cpu"]
            else "—"
        )
        pooled = (
            ", ".join(f"{r['pgbouncer_transactions']:,}" for r in runs)
            if runs[0]["pgbouncer_transactions"] is not None
            else "—"
        )
        statuses = {}
        for r in runs:
            for status, n in r["statuses"].items():
                statuses[status] = statuses.get(status, 0) + n
        lines.append(
            f"| {config} | {span(summary([r['rate'] for r in runs]))} "
            f"| {ms([r['p50'] for r in runs])} | {ms([r['p99'] for r in runs])} "
            f"| {cpu} "
            f"| {span(summary(per_cpu))} | {span1(app)} | {pooler} | {transactions:.1f} "
            f"| {pooled} "
            f"| {span1([r['load'] for r in runs])} "
            f"| {', '.join(f'{n} x {s}' for s, n in sorted(statuses.items()))} |"
        )
    lines.append("")
    if len(configs) > 1:
        lines += [
            f"ev/s via PgBouncer / direct, run by run: {_ratio(writes, configs[1], configs[0])}.",
            "",
        ]
    return lines


def _capacity_ledger(capacity):
    generated = capacity["generated"]
    before, after = capacity["written"]["before"], capacity["written"]["after"]
    events = generated["event"]["rows"]
    new_events = after["event"]["rows"] - before["event"]["rows"]
    lines = [
        "### Ledger growth",
        "",
        f"Bytes per row on the generated ledger ({events:,} events, after `VACUUM "
        "(ANALYZE)`) and on what the HTTP writers "
        f"added ({new_events:,} events with provenance and 2 metadata keys each: the "
        "growth of each relation over the rows added). Heap: `pg_relation_size`; toast "
        "included in the total (`pg_total_relation_size`).",
        "",
        "| table | rows generated | heap B/row | indexes B/row | total B/row "
        "| rows added over HTTP | heap B/row | indexes B/row | total B/row |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for table, g in generated.items():
        rows = after[table]["rows"] - before[table]["rows"]

        def per(key, g=g, rows=rows, table=table):
            grown = after[table][key] - before[table][key]
            return f"{grown / rows:,.0f}" if rows else "—"

        def own(key, g=g):
            return f"{g[key] / g['rows']:,.0f}" if g["rows"] else "—"

        lines.append(
            f"| `{table}` | {g['rows']:,} | {own('heap')} | {own('indexes')} | {own('total')} "
            f"| {rows:,} | {per('heap')} | {per('indexes')} | {per('total')} |"
        )
    lines += [
        "",
        "| index | B/row generated | B/row added over HTTP |",
        "|---|---|---|",
    ]
    for table, g in generated.items():
        rows = after[table]["rows"] - before[table]["rows"]
        for index, size in g["index_bytes"].items():
            grown = after[table]["index_bytes"][index] - before[table]["index_bytes"][index]
            mine = f"{size / g['rows']:,.0f}" if g["rows"] else "—"
            added = f"{grown / rows:,.0f}" if rows else "—"
            lines.append(f"| `{index}` ({table}) | {mine} | {added} |")
    total = sum(g["total"] for g in generated.values())
    written = sum(after[t]["total"] - before[t]["total"] for t in after)
    lines += [
        "",
        f"All three tables per event: {total / events:,.0f} B generated "
        f"({total / events:,.0f} MB per million events), {written / new_events:,.0f} B as "
        f"written over HTTP ({written / new_events:,.0f} MB per million).",
        "",
        "B-tree depth (levels, root included; `pageinspect`) at this size: "
        + ", ".join(
            f"`{index}` {d['levels']} ({d['pages']:,} pages)"
            for index, d in capacity["depth"].items()
        )
        + ".",
        "",
        "VACUUM after the bulk load, per table: "
        + ", ".join(
            f"`{table}` {capacity['vacuum_analyze_s'][table]:.2f} s (ANALYZE), "
            f"{capacity['vacuum_freeze_s'][table]:.2f} s (FREEZE, next)"
            for table in capacity["vacuum_analyze_s"]
        )
        + f". `generate_ledger` took {capacity['generate_seconds']:.0f} s. After the runs: "
        f"{capacity['verify']}.",
        "",
    ]
    return lines
