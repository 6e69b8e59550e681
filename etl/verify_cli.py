"""`auditlog verify`: check the run manifests' signatures and chain and every file's SHA-256 (etl/verify.py).

    auditlog verify                                  # ./data or $AUDITLOG_DATA_DIR
    auditlog verify --data-dir copy/ --public-key signing-key.pub.pem
    auditlog verify --s3 s3://my-analytics/ --raw-s3 s3://my-raw/ --from 2026-11-20 --to 2026-11-27

The result (problems with their dt/source, the time, the chain head) is also saved to a small status file
(AUDITLOG_VERIFY_STATUS) that the explorer's Search and Entity pages read to warn about the dates they show.

Exit 0: verified; 1: problems found (each printed with its file); 2: the command could not run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from etl.console import is_interactive
from etl.layout import add_data_dir_argument, data_dir_from, day_argument
from etl.manifest import LocalTree, ManifestError, S3Tree, Tree
from etl.verify import VerifyResult, VerifySettings, status_of, verify_tree, write_status


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `auditlog verify [--data-dir DIR | --s3 URI] [--from D] [--to D] [--public-key FILE ...]`."""
    parser = subparsers.add_parser("verify", help="check run manifests, signatures and file hashes")
    where = parser.add_mutually_exclusive_group()
    add_data_dir_argument(where)
    where.add_argument("--s3", metavar="s3://bucket/prefix", help="verify a bucket (data and manifests)")
    parser.add_argument(
        "--raw-s3", metavar="s3://bucket/prefix", help="where the raw inputs are (default: --s3)"
    )
    parser.add_argument(
        "--from", dest="date_from", type=day_argument, help="first arrival day whose files to check"
    )
    parser.add_argument(
        "--to", dest="date_to", type=day_argument, help="last arrival day whose files to check"
    )
    parser.add_argument(
        "--public-key",
        action="append",
        type=Path,
        metavar="FILE",
        help="trust only this PEM public key (repeatable); default: the keys under manifests/keys/",
    )
    parser.add_argument("--no-inputs", action="store_true", help="do not re-hash the raw inputs")
    parser.set_defaults(func=run)


def _progress(stage: str, done: int, total: int) -> None:
    """One updating line on a terminal; in a pipe, a log or CI a plain line per tenth (etl.console's rule)."""
    tty = is_interactive()
    if not total or (done != total and done % max(1, total // (20 if tty else 10))):
        return
    if tty:
        end = "" if done < total else "\n"
        print(f"\rverify: {stage} {done}/{total}", end=end, file=sys.stderr, flush=True)
    else:
        print(f"verify: {stage} {done}/{total}", file=sys.stderr, flush=True)


def print_result(result: VerifyResult) -> None:
    """Problems (one line each, with the file), superseded files, then a one-line summary."""
    for problem in result.problems:
        print(f"PROBLEM {problem}")
    for note in result.superseded:
        print(f"superseded: {note}")
    mib = result.bytes_checked / (1 << 20)
    summary = f"{result.manifests} manifest(s), {result.files_checked} file(s), {mib:.1f} MiB checked"
    if result.ok:
        head = result.head
        upto = (
            f"; verified up to {head['run_id']} (manifest {head['seq']}, {head['created_at']})"
            if head
            else ""
        )
        print(f"OK: {summary}{upto}")
    else:
        print(f"FAILED: {len(result.problems)} problem(s); {summary}")


def run(args: argparse.Namespace) -> int:
    """Verify the folder or bucket the arguments name; 0 when everything verifies, 1 on any problem."""
    if args.date_from and args.date_to and args.date_from > args.date_to:
        raise ValueError(f"--from {args.date_from} is after --to {args.date_to}")
    data: Tree
    if args.s3:
        data = S3Tree(args.s3)
        raw: Tree = S3Tree(args.raw_s3, data.client) if args.raw_s3 else data
    else:
        if args.raw_s3:
            raise ValueError("--raw-s3 goes with --s3; a local folder's raw files are under its raw/")
        folder = data_dir_from(args)
        if not folder.is_dir():
            raise ValueError(f"no data folder at {folder}; pass --data-dir DIR or --s3 s3://bucket/prefix")
        data = raw = LocalTree(folder)
    pems = [p.read_bytes() for p in args.public_key] if args.public_key else None
    try:
        result = verify_tree(
            data,
            raw,
            public_keys=pems,
            date_from=args.date_from,
            date_to=args.date_to,
            check_inputs=not args.no_inputs,
            progress=_progress,
        )
    except Exception as exc:
        if type(exc).__module__.startswith(("botocore", "boto3")):  # no bucket, no access, no credentials
            raise ManifestError(
                f"cannot read {args.s3}: {exc}; check the URI and your AWS credentials"
            ) from None
        raise
    if result.manifests == 0 and result.ok:
        print("FAILED: no manifests found under manifests/: nothing proves these files (run `auditlog etl`)")
        return 1
    print_result(result)
    status = VerifySettings.from_env().status_path(args.s3 or data_dir_from(args))
    try:  # the explorer's Search and Entity pages warn from it without re-verifying
        write_status(status, status_of(result, date_from=args.date_from, date_to=args.date_to))
    except OSError as exc:
        print(f"note: the result was not saved for the explorer ({status}: {exc.strerror})", file=sys.stderr)
    return 0 if result.ok else 1
