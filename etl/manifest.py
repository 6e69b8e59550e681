"""Signed, chained run manifests (DESIGN §8 "Unaltered"; rules in etl/SEMANTICS.md, "Run manifests").

Every run ends by writing `manifests/<seq>-<run_id>.json`: what it read (raw keys, sizes, SHA-256), what it
wrote (data files, entity index, quarantine, report: key, size, SHA-256, rows), the report's counts, the
manifest it supersedes (the same run's previous one) and the previous manifest's file hash, so the manifests
form one chain in the order written. The body is serialised with RFC 8785 (JSON canonicalisation) and signed;
a file is created once and never rewritten (a name already taken makes the writer take the next number). Both
ETLs use this module: the local one over a folder (`LocalTree`), the Glue job over S3 (`S3Tree`).

>>> manifest_key(7, "run-20261127"), parse_manifest_key("manifests/000007-run-20261127.json")
('manifests/000007-run-20261127.json', (7, 'run-20261127'))
>>> canonical({"b": 1, "a": [1.5, "é"]})
b'{"a":[1.5,"\\xc3\\xa9"],"b":1}'
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import tempfile
import threading
import urllib.parse
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import rfc8785

from etl import layout
from etl.errors import AuditLogError
from etl.settings import Settings, setting
from etl.signing import Ed25519Signer, Signer

FORMAT = "auditlog-manifest/1"
MANIFESTS_PREFIX = "manifests/"
KEYS_PREFIX = "manifests/keys/"
"""Public keys (PEM), one file per key id, beside the manifests they verify."""
CHUNK = 1 << 20
HASH_THREADS = 4
REPORT_COUNTS = (
    "started_at",
    "finished_at",
    "files_in",
    "events_in",
    "quarantined",
    "duplicates_removed",
    "events_stored",
    "rows_out",
    "late_rows",
    "max_event_time",
    "quarantine_reasons",
)
"""The report fields a manifest carries (partitions and the index file are its `outputs`)."""
_NAME = re.compile(r"^manifests/(\d{6,})-(run-\d{8})\.json$")
_WRITE_LOCK = threading.Lock()


class ManifestError(AuditLogError, ValueError):
    """A manifest cannot be written or read; the message names the file and what is wrong."""


def _default_key_path() -> str:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "auditlog", "signing-key.pem")


@dataclass(frozen=True)
class ManifestSettings(Settings):
    """Where the local ETL keeps its signing key (outside the data folder: a copy of the data has no key)."""

    signing_key: str = setting(
        "",
        "path of the local ETL's Ed25519 signing key (PEM, created with mode 0600 on the first run); empty: "
        "$XDG_CONFIG_HOME/auditlog/signing-key.pem, else ~/.config/auditlog/signing-key.pem",
    )

    def key_path(self) -> Path:
        """The signing key's path: the setting, else the default under the user's config folder."""
        return Path(self.signing_key or _default_key_path()).expanduser()


def manifest_key(seq: int, run: str) -> str:
    """The key of the `seq`-th manifest (1-based), written by run `run`."""
    return f"{MANIFESTS_PREFIX}{seq:06d}-{run}.json"


def parse_manifest_key(key: str) -> tuple[int, str] | None:
    """(seq, run id) of a manifest key, or None when `key` is not named like one."""
    m = _NAME.match(key)
    return (int(m.group(1)), m.group(2)) if m else None


def public_key_key(kid: str) -> str:
    """Where the public key with id `kid` (`sha256:<hex>`) is published."""
    return f"{KEYS_PREFIX}{kid.replace(':', '-')}.pem"


def canonical(value: Any) -> bytes:
    """RFC 8785 canonical JSON: sorted keys, no whitespace, ECMAScript number form, UTF-8."""
    return rfc8785.dumps(value)


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256 of `data`."""
    return hashlib.sha256(data).hexdigest()


def signed_message(body: dict[str, Any]) -> bytes:
    """What a signer signs: the format and the SHA-256 of the canonical body (short enough for KMS RAW)."""
    return canonical({"format": FORMAT, "manifest_sha256": sha256_hex(canonical(body))})


def seal(body: dict[str, Any], signer: Signer) -> bytes:
    """The manifest file: canonical `{"manifest": body, "signature": {...}}`, signed by `signer`."""
    if body.get("signer") != {"key_id": signer.key_id, "algorithm": signer.algorithm}:
        raise ManifestError("the manifest body must name the signer that signs it")
    sig = base64.b64encode(signer.sign(signed_message(body))).decode("ascii")
    return canonical({"manifest": body, "signature": sig})


# --- Storage: a folder or an S3 prefix ------------------------------------------------------------------


class Tree(Protocol):
    """Keys under one root (a data folder or an S3 prefix), as the manifest writer and verifier need them."""

    def describe(self, key: str) -> str:
        """`key` as a user would find it (a path or an s3:// URI)."""
        ...

    def list(self, prefix: str) -> list[tuple[str, int]]:
        """(key, size) of every object under `prefix`, sorted by key."""
        ...

    def read(self, key: str) -> bytes:
        """The content of `key`; FileNotFoundError when there is none."""
        ...

    def digest(self, key: str) -> tuple[int, str]:
        """(size, hex SHA-256) of `key`, streamed; FileNotFoundError when there is none."""
        ...

    def create(self, key: str, data: bytes) -> bool:
        """Write `key` only if it does not exist yet (atomically); False when it already exists."""
        ...


class LocalTree:
    """A data folder on disk."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def describe(self, key: str) -> str:
        """The file's path."""
        return str(self.root / key)

    def list(self, prefix: str) -> list[tuple[str, int]]:
        """Every regular file under `prefix`, sorted (temp files starting with '.' left out)."""
        base = self.root / prefix
        if not base.is_dir():
            return []
        out = []
        for dirpath, _, names in os.walk(base):
            for name in names:
                if name.startswith("."):
                    continue
                path = Path(dirpath) / name
                out.append((path.relative_to(self.root).as_posix(), path.stat().st_size))
        return sorted(out)

    def read(self, key: str) -> bytes:
        """The file's bytes."""
        return (self.root / key).read_bytes()

    def digest(self, key: str) -> tuple[int, str]:
        """Size and SHA-256, read in 1 MiB chunks (hashlib releases the GIL, so threads overlap)."""
        h = hashlib.sha256()
        size = 0
        with open(self.root / key, "rb", buffering=0) as fh:
            buf = bytearray(CHUNK)
            view = memoryview(buf)
            while n := fh.readinto(buf):
                h.update(view[:n])
                size += n
        return size, h.hexdigest()

    def create(self, key: str, data: bytes) -> bool:
        """Write a temp file, then hard-link it to `key` (fails if `key` exists: no overwrite, no race)."""
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o444)
            try:
                os.link(tmp, path)
            except FileExistsError:
                return False
            return True
        finally:
            os.unlink(tmp)


class S3Tree:
    """Keys under s3://bucket/prefix/ (boto3; the client may be given, e.g. a moto one in tests)."""

    def __init__(self, uri: str, client: Any = None) -> None:
        parsed = urllib.parse.urlparse(uri)
        if parsed.scheme not in ("s3", "s3a") or not parsed.netloc:
            raise ManifestError(f"{uri!r} is not an s3://bucket/prefix URI")
        self.bucket = parsed.netloc
        self.prefix = parsed.path.lstrip("/")
        if self.prefix and not self.prefix.endswith("/"):
            self.prefix += "/"
        if client is None:
            import boto3

            client = boto3.client("s3")
        self.client = client

    def describe(self, key: str) -> str:
        """The object's s3:// URI."""
        return f"s3://{self.bucket}/{self.prefix}{key}"

    def list(self, prefix: str) -> list[tuple[str, int]]:
        """ListObjectsV2 under the prefix (current versions only)."""
        out = []
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix + prefix
        ):
            out += [(o["Key"][len(self.prefix) :], int(o["Size"])) for o in page.get("Contents", [])]
        return sorted(out)

    def _get(self, key: str) -> Any:
        from botocore.exceptions import ClientError

        try:
            return self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)["Body"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise FileNotFoundError(self.describe(key)) from None
            raise

    def read(self, key: str) -> bytes:
        """GetObject's body."""
        return bytes(self._get(key).read())

    def digest(self, key: str) -> tuple[int, str]:
        """Size and SHA-256 of the object, streamed in 1 MiB chunks."""
        body = self._get(key)
        h = hashlib.sha256()
        size = 0
        for chunk in body.iter_chunks(CHUNK):
            h.update(chunk)
            size += len(chunk)
        return size, h.hexdigest()

    def create(self, key: str, data: bytes) -> bool:
        """PutObject with If-None-Match: * (S3 conditional write): False when the key exists."""
        from botocore.exceptions import ClientError

        try:
            self.client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data, IfNoneMatch="*")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in (
                "PreconditionFailed",
                "ConditionalRequestConflict",
            ):
                return False
            raise
        return True

    def versions(self, key: str) -> tuple[int, bool]:
        """(older versions kept, whether the newest entry is a delete marker) of one key."""
        resp = self.client.list_object_versions(Bucket=self.bucket, Prefix=self.prefix + key)
        full = self.prefix + key
        older = [v for v in resp.get("Versions", []) if v["Key"] == full and not v.get("IsLatest")]
        markers = [m for m in resp.get("DeleteMarkers", []) if m["Key"] == full and m.get("IsLatest")]
        return len(older), bool(markers)


# --- Building and writing -------------------------------------------------------------------------------


def digest_all(tree: Tree, keys: Sequence[str]) -> dict[str, tuple[int, str]]:
    """(size, SHA-256) of each key, hashed on a few threads."""
    with ThreadPoolExecutor(HASH_THREADS) as pool:
        return dict(zip(keys, pool.map(tree.digest, keys), strict=True))


def _entries(
    tree: Tree, keys: Sequence[str], rows: dict[str, int | None] | None = None
) -> list[dict[str, Any]]:
    sums = digest_all(tree, keys)
    out = []
    for key in keys:
        size, sha = sums[key]
        entry: dict[str, Any] = {"key": key, "size": size, "sha256": sha}
        if rows is not None:
            entry["rows"] = rows.get(key)
        out.append(entry)
    return out


def output_keys(report: dict[str, Any]) -> tuple[list[str], dict[str, int | None]]:
    """The keys a run wrote, from its report (data files, entity index, quarantine when any, the report),
    and the row count of each (None for the report; the index's rows are filled in by the caller)."""
    day = datetime.strptime(report["arrival_day"], "%Y-%m-%d").date()
    rows: dict[str, int | None] = {p["file"]: int(p["rows"]) for p in report["partitions"]}
    if report.get("index_file"):
        rows[report["index_file"]] = None
    if report["quarantined"]:
        rows[layout.quarantine_key(day)] = int(report["quarantined"])
    rows[layout.report_key(day)] = None
    return list(rows), rows


def latest_manifests(tree: Tree) -> list[tuple[str, int, str]]:
    """(key, seq, run id) of every manifest file under manifests/, in chain (name) order."""
    found = []
    for key, _ in tree.list(MANIFESTS_PREFIX):
        parsed = parse_manifest_key(key)
        if parsed is not None:
            found.append((key, *parsed))
    return sorted(found, key=lambda m: (m[1], m[0]))


def write_manifest(
    data: Tree,
    raw_tree: Tree,
    report: dict[str, Any],
    inputs: Iterable[str],
    signer: Signer,
    *,
    index_rows: int | None = None,
) -> tuple[str, dict[str, Any]]:
    """Hash the run's inputs and outputs, then append its signed manifest to the chain; return (key, body).

    `report` is the run report (the dict written to reports/); `inputs` the raw keys the run read.
    """
    run = report["run_id"]
    keys, rows = output_keys(report)
    if report.get("index_file"):
        rows[report["index_file"]] = index_rows
    try:
        outputs = _entries(data, keys, rows)
        in_entries = _entries(raw_tree, sorted(inputs))
    except FileNotFoundError as exc:
        raise ManifestError(
            f"run {run}: a file it wrote or read is gone before its manifest: {exc}"
        ) from None
    kid = public_key_key(signer.key_id)
    data.create(kid, signer.public_pem)  # False: already published (same key id = same key)
    with _WRITE_LOCK:
        for _ in range(100):
            chain = latest_manifests(data)
            seq = chain[-1][1] + 1 if chain else 1
            previous = None
            if chain:
                prev_key = chain[-1][0]
                previous = {"key": prev_key, "sha256": sha256_hex(data.read(prev_key))}
            supersedes = next((k for k, _, r in reversed(chain) if r == run), None)
            body = {
                "format": FORMAT,
                "seq": seq,
                "run_id": run,
                "arrival_day": report["arrival_day"],
                "engine": report["engine"],
                "created_at": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "previous": previous,
                "supersedes": supersedes,
                "inputs": in_entries,
                "outputs": outputs,
                "report": {k: report.get(k) for k in REPORT_COUNTS},
                "signer": {"key_id": signer.key_id, "algorithm": signer.algorithm},
            }
            key = manifest_key(seq, run)
            if data.create(key, seal(body, signer)):
                return key, body
        raise ManifestError(
            f"run {run}: could not take a manifest number after 100 tries (concurrent writers?)"
        )


def write_local_manifest(
    data_dir: Path, report: Any, inputs: Iterable[Path], settings: ManifestSettings | None = None
) -> str:
    """The local ETL's last step: sign (Ed25519, key from ManifestSettings) and append the run's manifest.

    `report` is the RunReport (or its dict); `inputs` the raw files the run read. Returns the manifest key.
    """
    import pyarrow.parquet as pq

    data_dir = Path(data_dir)
    settings = settings or ManifestSettings.from_env()
    signer = Ed25519Signer.load_or_create(settings.key_path())
    rep = report.to_dict() if hasattr(report, "to_dict") else dict(report)
    index_rows = None
    if rep.get("index_file"):
        index_rows = pq.read_metadata(data_dir / rep["index_file"]).num_rows
    tree = LocalTree(data_dir)
    keys = [Path(p).resolve().relative_to(data_dir.resolve()).as_posix() for p in inputs]
    key, _ = write_manifest(tree, tree, rep, keys, signer, index_rows=index_rows)
    return key


def tree_for(root: str, client: Any = None) -> Tree:
    """The Tree for a data root as the Glue job takes it: s3://bucket/prefix/, file:///path or a path."""
    parsed = urllib.parse.urlparse(root)
    if parsed.scheme in ("s3", "s3a"):
        return S3Tree(root, client)
    if parsed.scheme == "file":
        return LocalTree(Path(urllib.parse.unquote(parsed.path)))
    return LocalTree(Path(root))
