"""`python -m bench.run [--full]`: the ETL and explorer benchmarks; prints a summary and writes JSON.

Quick mode (default, a few minutes): ETL over the 7-day demo raw set (no Glue run), explorer over 7 days.
Full mode: adds the Glue transform under local pyspark, the explorer at 90 and 365 days, and the memory of a
real `streamlit run app.py` server driven through the query mix in headless Chromium (bench/server_rss.py).
Data sets are built once and cached in bench/.cache/ (see bench/data.py for exactly how).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from bench import data, etl_bench, explorer_bench, server_rss
from bench.measure import machine


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks the arguments ask for; write bench/.cache/results-<mode>.json."""
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--full", action="store_true", help="Glue comparison and 7/90/365-day explorer")
    parser.add_argument("--skip-etl", action="store_true", help="explorer benchmark only")
    parser.add_argument("--days", type=int, nargs="*", help="explorer table sizes (default 7, or 7 90 365)")
    parser.add_argument("--events-per-day", type=int, default=100_000,
                        help="events a day of the explorer tables (default 100,000)")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {"mode": "full" if args.full else "quick", "machine": machine()}
    data.log(f"bench: {results['mode']} mode; cache {data.CACHE}")
    if not args.skip_etl:
        results["etl"] = etl_bench.run(args.full, 100_000)
    days = args.days or ([7, 90, 365] if args.full else [7])
    results["explorer"] = []
    for n in days:
        folder = data.table(n, args.events_per_day)
        reps, naive_reps = (30, 5) if args.full else (15, 3)
        results["explorer"].append(explorer_bench.run(n, folder, reps=reps, naive_reps=naive_reps))
    if args.full:
        results["server_rss"] = server_rss.run(max(days))
    out = data.CACHE / f"results-{results['mode']}.json"
    out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(json.dumps(results, indent=2, default=str))
    data.log(f"bench: results written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
