"""ETL benchmark: the local ETL over the cached 7-day demo raw set, in a child process (wall time, events/s,
peak RSS), against the floor (two parallel `gzip -dc` of the same files to /dev/null) and, in full mode, the
Glue job (etl.glue_job.run_etl under local pyspark, local[2]) over the same raw days."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import data
from bench.measure import run_child
from etl import layout

_ETL_CHILD = """
import json, sys, time
from pathlib import Path
from etl.local import run_all
started = time.perf_counter()
reports = run_all(Path(sys.argv[1]))
print(json.dumps({"seconds": time.perf_counter() - started, "days": len(reports),
                  "events_in": sum(r.events_in for r in reports),
                  "rows_out": sum(r.rows_out for r in reports)}))
"""

_GLUE_CHILD = """
import json, sys, time
from pathlib import Path
t0 = time.perf_counter()
from pyspark.sql import SparkSession
from etl import glue_job, local
spark = (SparkSession.builder.master("local[2]").appName("bench-glue")
         .config("spark.sql.shuffle.partitions", "2").config("spark.ui.enabled", "false")
         .config("spark.driver.memory", "2g").getOrCreate())
spark.sparkContext.setLogLevel("ERROR")
t1 = time.perf_counter()
root = Path(sys.argv[1])
reports = [glue_job.run_etl(spark, str(root), str(root), day) for day in local.raw_days(root)]
t2 = time.perf_counter()
spark.stop()
print(json.dumps({"startup_seconds": t1 - t0, "seconds": t2 - t1,
                  "events_in": sum(r["events_in"] for r in reports),
                  "rows_out": sum(r["rows_out"] for r in reports)}))
"""


def _fresh_copy(src: Path, name: str) -> Path:
    """A work folder holding hard links to `src`'s raw objects and no outputs."""
    work = data.CACHE / name
    if not (work / layout.RAW_PREFIX).is_dir():
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(src / layout.RAW_PREFIX, work / layout.RAW_PREFIX, copy_function=os.link)
    for prefix in ("analytics", layout.REPORTS_PREFIX, layout.QUARANTINE_PREFIX):
        shutil.rmtree(work / prefix, ignore_errors=True)
    return work


def gzip_floor(raw_root: Path, repeats: int = 3) -> dict[str, Any]:
    """Wall seconds of two parallel `gzip -dc` processes over every raw object (half each), to /dev/null."""
    files = sorted(str(p) for p in (raw_root / layout.RAW_PREFIX).rglob("*.gz"))
    halves = [files[0::2], files[1::2]]
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        procs = [subprocess.Popen(["gzip", "-dc", *h], stdout=subprocess.DEVNULL) for h in halves]
        if any(p.wait() != 0 for p in procs):
            raise RuntimeError("gzip -dc failed")
        times.append(time.perf_counter() - started)
    return {"files": len(files), "seconds_median": statistics.median(times), "seconds_all": times,
            "gzip_bytes": sum(os.path.getsize(f) for f in files)}


def run(full: bool, events_per_day: int, log=data.log) -> dict[str, Any]:
    """The ETL benchmark; the Glue comparison only when `full`."""
    raw = data.raw_days(data.BASE_DAYS, events_per_day)
    log("etl: gzip floor (2 x gzip -dc) ...")
    floor = gzip_floor(raw)
    work = _fresh_copy(raw, f"work-etl-{events_per_day}")
    log("etl: local ETL (run_all in a child process) ...")
    child = run_child([sys.executable, "-c", _ETL_CHILD, str(work)])
    info = json.loads(child.stdout)
    floor_after = gzip_floor(raw)  # the machine is shared: measure the floor on both sides of the ETL
    floor_s = statistics.median(floor["seconds_all"] + floor_after["seconds_all"])
    result: dict[str, Any] = {
        "raw_days": info["days"], "events_in": info["events_in"], "rows_out": info["rows_out"],
        "raw_files": floor["files"], "raw_gzip_mb": round(floor["gzip_bytes"] / 1e6, 1),
        "floor_seconds": round(floor_s, 2),
        "floor_seconds_all": [round(x, 2) for x in floor["seconds_all"] + floor_after["seconds_all"]],
        "etl_seconds": round(child.seconds, 2), "etl_cpu_seconds": round(child.cpu_seconds, 2),
        "etl_events_per_s": round(info["events_in"] / child.seconds),
        "etl_peak_rss_mb": round(child.max_rss_mb), "etl_vs_floor": round(child.seconds / floor_s, 2),
    }
    log(f"etl: {result['etl_seconds']} s ({result['etl_events_per_s']:,} events/s), peak RSS "
        f"{result['etl_peak_rss_mb']} MB, floor {result['floor_seconds']} s -> {result['etl_vs_floor']}x")
    if full:
        glue_work = _fresh_copy(raw, f"work-glue-{events_per_day}")
        log("etl: Glue transform under local pyspark (child process) ...")
        env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
        glue_log = str(data.CACHE / "glue-bench.log")
        glue = run_child([sys.executable, "-c", _GLUE_CHILD, str(glue_work)], env=env, stderr_path=glue_log)
        g = json.loads(glue.stdout)
        result.update({
            "glue_seconds": round(g["seconds"], 2), "glue_startup_seconds": round(g["startup_seconds"], 2),
            "glue_events_per_s": round(g["events_in"] / g["seconds"]), "glue_rows_out": g["rows_out"],
            "glue_driver_peak_rss_mb": round(glue.max_rss_mb),
            "local_vs_glue_speedup": round(g["seconds"] / child.seconds, 2),
        })
        log(f"etl: glue {result['glue_seconds']} s (+{result['glue_startup_seconds']} s startup)")
    return result
