"""Signed sidecar manifests for exports, and `auditlog verify-export FILE` (DESIGN §8 "Unaltered").

An export `orders.csv` can carry `orders.csv.manifest.json`: RFC 8785 canonical JSON of `{"manifest": BODY,
"signature": base64}` where BODY names the file (name, size, SHA-256, rows, format), the filters and the
equivalent `auditlog export` command, the user, the time, and the run manifests it was read from (the newest
manifest of every run that wrote a data file in the export's dates and sources, by key and SHA-256) with the
chain's head at that moment. It is signed like a run manifest (etl.manifest.signed_message), by the local
Ed25519 key (AUDITLOG_SIGNING_KEY) unless another signer is given. `verify_export` recomputes the file's hash
and checks the signature against trusted public keys only, so a changed file or a changed sidecar is named.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import getpass
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from etl import layout
from etl.manifest import (
    LocalTree,
    ManifestSettings,
    S3Tree,
    Tree,
    latest_manifests,
    seal,
    sha256_hex,
    signed_message,
)
from etl.signing import Ed25519Signer, Signer, SigningError, public_keys_from_pems, verify_signature

from .export import ExportResult, export_command
from .model import AuditLogQuery

FORMAT = "auditlog-export-manifest/1"
SUFFIX = ".manifest.json"


def sidecar_path(export_file: Path) -> Path:
    """Where an export's manifest lives: beside it, `<name>.manifest.json`."""
    return export_file.with_name(export_file.name + SUFFIX)


def _filters(query: AuditLogQuery) -> dict[str, Any]:
    return {
        "date_from": query.date_from.isoformat(),
        "date_to": query.date_to.isoformat(),
        "sources": list(query.sources),
        "entity_types": list(query.entity_types),
        "actions": [a.value for a in query.actions],
        "actor_name": query.actor_name,
        "actor_types": [t.value for t in query.actor_types],
        "entity_id": query.entity_id,
        "include_children": query.include_children,
        "correlation_id": query.correlation_id,
        "channel_codes": list(query.channel_codes),
    }


def run_manifests_read(
    tree: Tree, query: AuditLogQuery
) -> tuple[list[dict[str, str]], dict[str, str] | None]:
    """([{key, sha256}] of the newest manifest of each run with a data file in the query's dates and
    sources, chain head {key, sha256} or None) from the manifests under `tree`."""
    newest: dict[str, str] = {}
    chain = latest_manifests(tree)
    for key, _, run in chain:
        newest[run] = key
    sources = set(query.sources)
    read = []
    for key in sorted(newest.values()):
        data = tree.read(key)
        try:
            body = json.loads(data)["manifest"]
        except (ValueError, KeyError, TypeError):
            continue  # unreadable: `auditlog verify` reports it; it cannot be named as read
        for entry in body.get("outputs", []):
            k = str(entry.get("key", ""))
            if not k.startswith(layout.ANALYTICS_PREFIX):
                continue
            parts = dict(seg.split("=", 1) for seg in k.split("/") if "=" in seg)
            dt, source = parts.get("dt", ""), parts.get("source", "")
            in_dates = query.date_from.isoformat() <= dt <= query.date_to.isoformat()
            if in_dates and (not sources or source in sources):
                read.append({"key": key, "sha256": sha256_hex(data)})
                break
    head = None
    if chain:
        head = {"key": chain[-1][0], "sha256": sha256_hex(tree.read(chain[-1][0]))}
    return read, head


def export_manifest_bytes(
    blob: bytes,
    name: str,
    rows: int,
    export_format: str,
    query: AuditLogQuery,
    *,
    user: str | None = None,
    tree: Tree | None = None,
    signer: Signer | None = None,
    data_dir: str | None = None,
    not_yet_processed: int | None = None,
) -> bytes:
    """The signed sidecar of an export held in memory (`blob`, to be saved as `name`): the explorer's
    download; `tree`: where the run manifests are. Default signer: the local key (AUDITLOG_SIGNING_KEY).
    `not_yet_processed`, when known, is recorded: how many rows came from raw objects no run had read
    (they are in no run manifest yet; their NotYetProcessed column is true)."""
    signer = signer or Ed25519Signer.load_or_create(ManifestSettings.from_env().key_path())
    read, head = run_manifests_read(tree, query) if tree is not None else ([], None)
    body = {
        "format": FORMAT,
        "file": name,
        "size": len(blob),
        "sha256": sha256_hex(blob),
        "rows": rows,
        "export_format": export_format,
        "filters": _filters(query),
        "command": export_command(query, export_format, name, data_dir),
        "user": user or getpass.getuser(),
        "created_at": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        **({} if not_yet_processed is None else {"not_yet_processed": not_yet_processed}),
        "run_manifests": read,
        "chain_head": head,
        "signer": {"key_id": signer.key_id, "algorithm": signer.algorithm},
        "public_key": signer.public_pem.decode("ascii"),
    }
    return seal(body, signer)


def write_export_manifest(
    result: ExportResult,
    query: AuditLogQuery,
    *,
    user: str | None = None,
    tree: Tree | None = None,
    signer: Signer | None = None,
    data_dir: str | None = None,
) -> Path:
    """Write and return the signed sidecar of a file export (`result.path`); `tree`: the run manifests."""
    if result.path is None:
        raise ValueError("a manifest describes a file export; export to a file (--output) first")
    path = Path(result.path)
    sidecar = sidecar_path(path)
    sidecar.write_bytes(
        export_manifest_bytes(
            path.read_bytes(),
            path.name,
            result.rows,
            result.format,
            query,
            user=user,
            tree=tree,
            signer=signer,
            data_dir=data_dir,
            not_yet_processed=result.not_yet_processed,
        )
    )
    return sidecar


@dataclass
class ExportCheck:
    """What verify_export found: problems (empty = verified) and the sidecar's body when it could be read."""

    problems: list[str] = field(default_factory=list)
    body: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        """True when the file and its sidecar verify."""
        return not self.problems


def verify_export(
    export_file: Path,
    *,
    public_keys: Iterable[bytes] | None = None,
    tree: Tree | None = None,
    manifest: Path | None = None,
) -> ExportCheck:
    """Check an export against its sidecar: signature by a trusted key, the file's size and SHA-256, and
    (with `tree`) that the run manifests it names are still there unchanged.

    Trusted keys: `public_keys` (PEM) when given, else those published under `tree`'s manifests/keys/.
    """
    export_file = Path(export_file)
    sidecar = manifest or sidecar_path(export_file)
    check = ExportCheck()
    try:
        doc = json.loads(sidecar.read_bytes())
        body, sig = doc["manifest"], doc["signature"]
        if not isinstance(body, dict) or body.get("format") != FORMAT or not isinstance(sig, str):
            raise ValueError("not an export manifest")
    except FileNotFoundError:
        check.problems.append(f"{sidecar}: missing (no export manifest beside the file)")
        return check
    except (ValueError, KeyError, TypeError) as exc:
        check.problems.append(f"{sidecar}: unreadable or truncated export manifest ({exc})")
        return check
    check.body = body
    if public_keys is None:
        pems = [tree.read(k) for k, _ in tree.list("manifests/keys/")] if tree is not None else []
    else:
        pems = list(public_keys)
    try:
        keys = public_keys_from_pems(pems)
    except SigningError as exc:
        raise ValueError(f"--public-key: {exc}") from None
    kid = (body.get("signer") or {}).get("key_id")
    try:
        raw_sig = base64.b64decode(sig, validate=True)
    except (binascii.Error, ValueError):
        raw_sig = b""
    if kid not in keys:
        check.problems.append(f"{sidecar}: signed by an unknown key {kid!r} (pass the signer's --public-key)")
    elif not verify_signature(keys[kid], str(body["signer"].get("algorithm")), signed_message(body), raw_sig):
        check.problems.append(f"{sidecar}: signature does not match: the export manifest was changed")
    try:
        size, sha = LocalTree(export_file.parent).digest(export_file.name)
    except FileNotFoundError:
        check.problems.append(f"{export_file}: missing")
    else:
        if (size, sha) != (body.get("size"), body.get("sha256")):
            check.problems.append(f"{export_file}: changed (SHA-256 or size differs from {sidecar.name})")
    if tree is not None:
        for ref in body.get("run_manifests") or []:
            try:
                now = sha256_hex(tree.read(ref["key"]))
            except FileNotFoundError:
                check.problems.append(
                    f"{tree.describe(ref['key'])}: run manifest the export was read from is gone"
                )
                continue
            if now != ref.get("sha256"):
                check.problems.append(f"{tree.describe(ref['key'])}: run manifest changed since the export")
    return check


def manifests_tree(data_dir: Path, analytics_s3_uri: str = "") -> Tree | None:
    """Where the run manifests of an export's data are: the data folder when it has manifests/, else the
    bucket of `analytics_s3_uri` (s3://bucket/analytics/auditlog/ -> s3://bucket/), else None."""
    if (data_dir / "manifests").is_dir():
        return LocalTree(data_dir)
    if analytics_s3_uri.startswith("s3://"):
        root = analytics_s3_uri.split(layout.ANALYTICS_PREFIX, 1)[0]
        return S3Tree(root)
    return None


# --- `auditlog verify-export` ---------------------------------------------------------------------------


def register(subparsers: Any) -> None:
    """Add `auditlog verify-export FILE [--manifest M] [--public-key K ...] [--data-dir DIR]`."""
    parser = subparsers.add_parser("verify-export", help="check an export file against its signed manifest")
    parser.add_argument("file", type=Path, metavar="FILE", help="the exported file")
    parser.add_argument("--manifest", type=Path, help=f"its manifest (default: FILE{SUFFIX})")
    parser.add_argument(
        "--public-key", action="append", type=Path, metavar="FILE", help="trusted PEM public key (repeatable)"
    )
    layout.add_data_dir_argument(parser)
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    folder = layout.data_dir_from(args)
    tree = LocalTree(folder) if folder.is_dir() else None
    pems = [p.read_bytes() for p in args.public_key] if args.public_key else None
    check = verify_export(args.file, public_keys=pems, tree=tree, manifest=args.manifest)
    for problem in check.problems:
        print(f"PROBLEM {problem}")
    if check.ok and check.body is not None:
        b = check.body
        print(
            f"OK: {args.file} verifies: {b['rows']} rows, exported by {b['user']} at {b['created_at']} "
            f"from {len(b['run_manifests'])} run manifest(s)"
        )
        return 0
    print(f"FAILED: {len(check.problems)} problem(s)")
    return 1
