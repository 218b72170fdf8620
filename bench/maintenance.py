"""Maintenance benchmarks: ``verify_ledger`` and ``rebuild_scores`` on the current ledger.

Run by ``bench/run.py`` (``make bench``) in a process of its own, once per ledger size.
Each command runs as a ``manage.py`` subprocess, as an operator would run it; its wall
time and peak resident memory come from ``os.wait4`` (the child's own rusage, so one
command's peak never hides another's). Prints one JSON document on stdout.
"""

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = {
    "verify_ledger": ["verify_ledger", "--format", "json"],
    "rebuild_scores": ["rebuild_scores"],
}


def measure(args):
    """Run ``manage.py *args``; return (seconds, peak RSS in KiB, stdout)."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Drain the pipes without reaping, then reap this very child with its own rusage.
    stdout, stderr = _drain(process)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{stdout}\n{stderr}")
    return seconds, usage.ru_maxrss, stdout


def _drain(process):
    """Read stdout and stderr to the end without reaping the process."""
    chunks = {"err": ""}

    def read_err():
        chunks["err"] = process.stderr.read()

    reader = threading.Thread(target=read_err)
    reader.start()
    out = process.stdout.read()
    reader.join()
    process.stdout.close()
    process.stderr.close()
    return out, chunks["err"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    results = {}
    for name, command in COMMANDS.items():
        figures = {"seconds": [], "rss_kib": []}
        for _ in range(args.runs):
            seconds, rss, stdout = measure(command)
            figures["seconds"].append(seconds)
            figures["rss_kib"].append(rss)
        if name == "verify_ledger":
            report = json.loads(stdout)
            figures["clean"] = report["clean"]
            figures["deltas"] = report["deltas"]
            figures["events"] = report["events"]
            figures["characters"] = report["characters"]
        else:
            figures["output"] = stdout.strip().splitlines()[-2:]
        results[name] = figures
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
