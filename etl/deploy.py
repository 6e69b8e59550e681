"""Deploy-time helpers for the cloud pipeline: upload the Glue script and the etl package it imports, start a
Glue job run for one arrival day, wait for it, read stack outputs. Used by .github/workflows/deploy.yml and
by people running the job by hand (`python -m etl.deploy --help`).

>>> sorted(ETL_MODULES)
['__init__.py', 'errors.py', 'glue_job.py', 'layout.py', 'manifest.py', 'raw.py', 'rules.py', 'schema.py',
 'settings.py', 'signing.py']
"""

from __future__ import annotations

import argparse
import io
import sys
import time
import zipfile
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from etl.errors import AuditLogError

ETL_DIR = Path(__file__).resolve().parent
# What the Glue job imports from this package (etl.local and DuckDB are not shipped to Glue).
ETL_MODULES: tuple[str, ...] = (
    "__init__.py", "errors.py", "glue_job.py", "layout.py", "raw.py", "rules.py", "schema.py", "settings.py"
)
ETL_MODULES += ("manifest.py", "signing.py")  # run manifests (etl/manifest.py)
DEFAULT_SCRIPT_KEY = "glue/auditlog/glue_job.py"
DEFAULT_ZIP_KEY = "glue/auditlog/etl.zip"
TERMINAL_FAILURES = frozenset({"FAILED", "ERROR", "TIMEOUT", "STOPPED", "EXPIRED"})


class JobRunFailed(AuditLogError, RuntimeError):
    """A Glue job run ended in a state other than SUCCEEDED."""


def etl_zip_bytes(etl_dir: Path = ETL_DIR) -> bytes:
    """A zip holding the `etl` package modules the Glue job imports (for Glue's --extra-py-files)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in ETL_MODULES:
            path = etl_dir / name
            if not path.is_file():
                raise FileNotFoundError(f"{path} is missing; the Glue job needs it in the etl package zip")
            zf.write(path, f"etl/{name}")
    return buf.getvalue()


def upload_glue_artifacts(
    s3: Any,
    bucket: str,
    script_key: str = DEFAULT_SCRIPT_KEY,
    zip_key: str = DEFAULT_ZIP_KEY,
    etl_dir: Path = ETL_DIR,
) -> dict[str, str]:
    """Upload etl/glue_job.py and the etl package zip to `bucket`; return their s3:// URIs.

    The keys must match the stack parameters GlueScriptKey and GlueExtraPyFilesKey.
    """
    s3.upload_file(str(etl_dir / "glue_job.py"), bucket, script_key)
    s3.put_object(Bucket=bucket, Key=zip_key, Body=etl_zip_bytes(etl_dir), ContentType="application/zip")
    return {"script": f"s3://{bucket}/{script_key}", "extra_py_files": f"s3://{bucket}/{zip_key}"}


def start_etl_run(glue: Any, job_name: str, arrival_day: date | None = None) -> str:
    """Start a Glue ETL run for `arrival_day` (None: the job's default, yesterday); return its id."""
    kwargs: dict[str, Any] = {"JobName": job_name}
    if arrival_day is not None:
        kwargs["Arguments"] = {"--arrival_day": arrival_day.isoformat()}
    return str(glue.start_job_run(**kwargs)["JobRunId"])


def wait_for_run(
    glue: Any,
    job_name: str,
    run_id: str,
    poll_seconds: float = 30.0,
    timeout_seconds: float = 3 * 3600,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Poll a Glue job run until it ends; return the JobRun, raise JobRunFailed when it did not succeed."""
    waited = 0.0
    while True:
        run = glue.get_job_run(JobName=job_name, RunId=run_id, PredecessorsIncluded=False)["JobRun"]
        state = run.get("JobRunState", "")
        if state == "SUCCEEDED":
            return dict(run)
        if state in TERMINAL_FAILURES:
            raise JobRunFailed(
                f"Glue job {job_name} run {run_id} ended {state}: "
                f"{run.get('ErrorMessage', 'no error message')}"
            )
        if waited >= timeout_seconds:
            raise TimeoutError(f"Glue job {job_name} run {run_id} still {state} after {waited:.0f} s")
        sleep(poll_seconds)
        waited += poll_seconds


def stack_outputs(cloudformation: Any, stack_name: str) -> dict[str, str]:
    """The outputs of a deployed stack as {OutputKey: OutputValue}."""
    stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: `upload --bucket B` or `run --job NAME [--arrival-day D] [--wait]`."""
    import boto3

    parser = argparse.ArgumentParser(prog="python -m etl.deploy", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("upload", help="upload the Glue script and the etl package zip")
    up.add_argument("--bucket", required=True)
    up.add_argument("--script-key", default=DEFAULT_SCRIPT_KEY)
    up.add_argument("--zip-key", default=DEFAULT_ZIP_KEY)
    run = sub.add_parser("run", help="start the Glue ETL job for one arrival day")
    run.add_argument("--job", required=True)
    run.add_argument("--arrival-day", type=date.fromisoformat, default=None)
    run.add_argument("--wait", action="store_true")
    args = parser.parse_args(argv)
    if args.command == "upload":
        for what, uri in upload_glue_artifacts(
            boto3.client("s3"), args.bucket, args.script_key, args.zip_key
        ).items():
            print(f"{what}: {uri}")
        return 0
    glue = boto3.client("glue")
    run_id = start_etl_run(glue, args.job, args.arrival_day)
    print(f"started {args.job} run {run_id}")
    if args.wait:
        final = wait_for_run(glue, args.job, run_id)
        print(f"{args.job} run {run_id}: {final['JobRunState']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
