"""Run every benchmark of docs/performance.rst in one go: throughput, latency, memory,
replay and the Redis relay.

Each part runs as its own process, one after the other (never side by side:
the machine has two cores and the parts would measure each other), and prints
its own table; the combined results go to one JSON file. Usage::

    python benchmarks/bench_all.py [--quick] [--json results.json] [--python CLIENT=PATH]

``--quick`` runs small versions (a minute or two) to check that everything
works; the figures in the docs come from the default, full run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

#: (name, script, full-run arguments, quick-run arguments)
PARTS = (
    ("throughput", "bench_throughput.py", ["--frames", "150000", "--rounds", "5"],
     ["--frames", "20000", "--rounds", "1"]),
    ("latency", "bench_latency.py", ["--rates", "10000", "50000", "--secs", "5", "--rounds", "3"],
     ["--rates", "10000", "50000", "--secs", "1", "--rounds", "1"]),
    ("memory", "bench_memory.py", [], ["--secs", "2"]),
    ("replay", "bench_replay.py", ["--frames", "150000", "--rounds", "5"],
     ["--frames", "20000", "--rounds", "1"]),
    ("relay", "bench_relay.py", ["--frames", "150000", "--rounds", "5", "--rate", "10000",
                                 "--secs", "5"],
     ["--frames", "20000", "--rounds", "1", "--secs", "1"]),
)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small runs, to check the set-up")
    parser.add_argument("--json", metavar="PATH", help="write all results here")
    parser.add_argument("--python", action="append", default=[], metavar="CLIENT=PATH",
                        help="passed on to bench_throughput.py (a client's own interpreter)")
    args = parser.parse_args(argv)
    results, failed = {}, []
    with tempfile.TemporaryDirectory() as tmp:
        for name, script, full, quick in PARTS:
            out = os.path.join(tmp, name + ".json")
            command = [sys.executable, os.path.join(HERE, script),
                       *(quick if args.quick else full), "--json", out]
            if name == "throughput":
                command += [f"--python={spec}" for spec in args.python]
            print(f"\n=== {name}: {' '.join(command[1:])}", flush=True)
            if subprocess.call(command) != 0:
                failed.append(name)
            if os.path.exists(out):
                with open(out) as f:
                    results[name] = json.load(f)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
