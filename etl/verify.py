"""Check a data folder or bucket against its run manifests: signatures, the chain, every file's SHA-256.

`verify_tree` reads every manifest under manifests/ in name order and checks, for each, that it parses, that
its name matches its body (seq, run id), that its signature is by a trusted key and valid, and that it names
the file before it by that file's SHA-256 (so an edited, deleted, inserted or swapped manifest breaks the
chain). The newest manifest of each run describes what must be there now: every output and input it lists must
exist with its size and hash, and every file under the data prefixes that no current manifest lists is
reported. Files only a superseded manifest lists are superseded: gone locally, kept as older versions on a
versioned, locked bucket. Only public keys are needed, so it runs on any downloaded copy."""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import re
import tempfile
import urllib.parse
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from etl import layout
from etl.manifest import (
    FORMAT,
    HASH_THREADS,
    KEYS_PREFIX,
    MANIFESTS_PREFIX,
    S3Tree,
    Tree,
    parse_manifest_key,
    sha256_hex,
    signed_message,
)
from etl.settings import Settings, setting
from etl.signing import PublicKey, SigningError, public_keys_from_pems, verify_signature

Progress = Callable[[str, int, int], None]

CHECKED_PREFIXES = (
    layout.ANALYTICS_PREFIX,
    layout.ENTITY_INDEX_PREFIX,
    layout.QUARANTINE_PREFIX,
    layout.REPORTS_PREFIX,
)
"""Where every file must be listed by a current manifest (analytics/_staging/ is not checked)."""


@dataclass(frozen=True)
class Problem:
    """One finding: its kind ('changed', 'missing', 'unlisted', 'signature', ...), the file, what is wrong."""

    kind: str
    file: str
    message: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.file}: {self.message}"


@dataclass
class VerifyResult:
    """What a verification found: problems (empty = verified), superseded files, and what it checked."""

    problems: list[Problem] = field(default_factory=list)
    superseded: list[str] = field(default_factory=list)
    manifests: int = 0
    files_checked: int = 0
    bytes_checked: int = 0
    head: dict[str, Any] | None = None
    """The newest manifest (seq, run_id, created_at, key) when the chain up to it verified, else None."""

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return not self.problems


@dataclass
class _Manifest:
    key: str
    seq: int
    run: str
    data: bytes
    body: dict[str, Any] | None = None


def _run_day(key: str) -> date | None:
    """The arrival day of the run a data file belongs to (its name is `<run_id>.<ext>`), or None."""
    name = key.rsplit("/", 1)[-1]
    return layout.run_day(name.split(".", 1)[0])


def _in_range(day: date | None, date_from: date | None, date_to: date | None) -> bool:
    if day is None:
        return True
    return (date_from is None or day >= date_from) and (date_to is None or day <= date_to)


def load_trusted_keys(
    tree: Tree, pems: Iterable[bytes] | None, problems: list[Problem]
) -> dict[str, PublicKey]:
    """The keys signatures must come from: the given PEMs, else every key published under manifests/keys/."""
    if pems is not None:
        return public_keys_from_pems(pems)
    keys: dict[str, PublicKey] = {}
    for key, _ in tree.list(KEYS_PREFIX):
        try:
            keys.update(public_keys_from_pems([tree.read(key)]))
        except (SigningError, OSError) as exc:
            problems.append(Problem("key", tree.describe(key), f"unreadable public key ({exc})"))
    return keys


def _parse(m: _Manifest, where: str) -> tuple[dict[str, Any] | None, str | None, str | None]:
    """(body, signature, error) of one manifest file."""
    try:
        doc = json.loads(m.data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, None, f"unreadable or truncated manifest ({exc})"
    if not isinstance(doc, dict) or not isinstance(doc.get("manifest"), dict):
        return None, None, "not a manifest (no 'manifest' object)"
    body, sig = doc["manifest"], doc.get("signature")
    if body.get("format") != FORMAT:
        return None, None, f"unknown manifest format {body.get('format')!r} (expected {FORMAT})"
    for name, kind in (("seq", int), ("run_id", str), ("outputs", list), ("inputs", list), ("signer", dict)):
        if not isinstance(body.get(name), kind):
            return None, None, f"manifest field {name!r} is missing or not a {kind.__name__}"
    return body, sig if isinstance(sig, str) else None, None  # no signature: reported by the caller


def _check_signature(body: dict[str, Any], sig: str, keys: dict[str, PublicKey]) -> str | None:
    signer = body.get("signer") or {}
    kid, algorithm = signer.get("key_id"), signer.get("algorithm")
    if kid not in keys:
        return f"signed by an unknown key {kid!r} (not among the trusted public keys)"
    try:
        raw = base64.b64decode(sig, validate=True)
    except (binascii.Error, ValueError):
        return "signature is not base64"
    if not verify_signature(keys[kid], str(algorithm), signed_message(body), raw):
        return "signature does not match: the manifest was changed after it was signed"
    return None


def verify_tree(
    data: Tree,
    raw_tree: Tree | None = None,
    *,
    public_keys: Iterable[bytes] | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    check_inputs: bool = True,
    progress: Progress | None = None,
) -> VerifyResult:
    """Verify the manifests and files under `data` (inputs under `raw_tree`, default `data`).

    `public_keys` (PEM texts) are the only keys trusted when given; else the keys under manifests/keys/.
    `date_from`/`date_to` limit the file checks to runs of those arrival days (the chain is always checked).
    """
    raw_tree = raw_tree or data
    report = progress or (lambda stage, done, total: None)
    result = VerifyResult()
    problems = result.problems
    keys = load_trusted_keys(data, public_keys, problems)

    # 1. The chain.
    listing = data.list(MANIFESTS_PREFIX)
    named: list[tuple[str, int, str]] = []
    for key, _ in listing:
        if key.startswith(KEYS_PREFIX):
            continue
        parsed = parse_manifest_key(key)
        if parsed is None:
            problems.append(
                Problem(
                    "unlisted", data.describe(key), "a file under manifests/ not named <seq>-<run_id>.json"
                )
            )
            continue
        named.append((key, *parsed))
    named.sort(key=lambda n: (n[1], n[0]))
    manifests: list[_Manifest] = []
    report("manifests", 0, len(named))
    for i, (key, seq, run) in enumerate(named, 1):
        try:
            manifests.append(_Manifest(key, seq, run, data.read(key)))
        except FileNotFoundError:
            problems.append(Problem("missing-manifest", data.describe(key), "listed but cannot be read"))
        report("manifests", i, len(named))
    result.manifests = len(manifests)
    chain_ok = True
    prev: _Manifest | None = None
    latest_by_run: dict[str, _Manifest] = {}
    superseded: list[_Manifest] = []
    seen_seq: set[int] = set()
    for m in manifests:
        where = data.describe(m.key)
        body, sig, error = _parse(m, where)
        if error is not None:
            problems.append(Problem("unreadable-manifest", where, error))
            chain_ok = False
        if m.seq in seen_seq:
            problems.append(Problem("manifest-order", where, f"a second manifest numbered {m.seq}"))
            chain_ok = False
        seen_seq.add(m.seq)
        if prev is None and m.seq != 1:
            problems.append(
                Problem(
                    "missing-manifest",
                    data.describe(MANIFESTS_PREFIX),
                    f"manifest(s) 1..{m.seq - 1} missing before {m.key}",
                )
            )
            chain_ok = False
        elif prev is not None and m.seq > prev.seq + 1:
            problems.append(
                Problem(
                    "missing-manifest",
                    data.describe(MANIFESTS_PREFIX),
                    f"manifest(s) {prev.seq + 1}..{m.seq - 1} missing between {prev.key} and {m.key}",
                )
            )
            chain_ok = False
        if body is not None:
            m.body = body
            if (body["seq"], body["run_id"]) != (m.seq, m.run):
                problems.append(
                    Problem(
                        "manifest-order",
                        where,
                        f"its content is manifest {body['seq']} of {body['run_id']}: manifests "
                        "were renamed, swapped or reordered",
                    )
                )
                chain_ok = False
            if sig is not None:
                bad = _check_signature(body, sig, keys)
                if bad is not None:
                    kind = "unknown-key" if "unknown key" in bad else "signature"
                    problems.append(Problem(kind, where, bad))
                    chain_ok = False
            else:
                problems.append(Problem("signature", where, "manifest has no signature"))
                chain_ok = False
            link = body.get("previous")
            if prev is None:
                if link is not None and m.seq == 1:
                    problems.append(Problem("chain", where, "the first manifest names a previous one"))
                    chain_ok = False
            else:
                want = {"key": prev.key, "sha256": sha256_hex(prev.data)}
                if not isinstance(link, dict) or link != want:
                    got = link.get("key") if isinstance(link, dict) else None
                    problems.append(
                        Problem(
                            "chain",
                            where,
                            f"does not chain to {prev.key} (it names {got!r} with another hash): "
                            "a manifest before it was changed, removed or reordered",
                        )
                    )
                    chain_ok = False
            run = body["run_id"]
            if run in latest_by_run:
                before = latest_by_run[run]
                if body.get("supersedes") != before.key:
                    problems.append(
                        Problem(
                            "chain",
                            where,
                            f"supersedes {body.get('supersedes')!r}, but the "
                            f"previous manifest of {run} is {before.key}",
                        )
                    )
                    chain_ok = False
                superseded.append(before)
            elif body.get("supersedes") is not None:
                problems.append(
                    Problem(
                        "missing-manifest",
                        where,
                        f"supersedes {body['supersedes']}, which is not in the chain",
                    )
                )
                chain_ok = False
            latest_by_run[run] = m
        if chain_ok and m.body is not None:
            result.head = {
                "seq": m.seq,
                "run_id": m.run,
                "created_at": m.body.get("created_at"),
                "key": m.key,
            }
        prev = m

    # 2. The files the newest manifest of each run lists.
    expected_out: dict[str, dict[str, Any]] = {}
    expected_in: dict[str, dict[str, Any]] = {}
    owner: dict[str, str] = {}
    for m in latest_by_run.values():
        assert m.body is not None
        day = layout.run_day(m.run)
        in_range = _in_range(day, date_from, date_to)
        for entry in m.body["outputs"]:
            if isinstance(entry, dict) and isinstance(entry.get("key"), str):
                owner[entry["key"]] = m.key
                if in_range:
                    expected_out[entry["key"]] = entry
        if check_inputs and in_range:
            for entry in m.body["inputs"]:
                if isinstance(entry, dict) and isinstance(entry.get("key"), str):
                    expected_in[entry["key"]] = entry
                    owner["raw:" + entry["key"]] = m.key
    jobs = [(data, k, e, owner[k]) for k, e in expected_out.items()]
    jobs += [(raw_tree, k, e, owner["raw:" + k]) for k, e in expected_in.items()]
    report("files", 0, len(jobs))

    def check(job: tuple[Tree, str, dict[str, Any], str]) -> tuple[Problem | None, int]:
        tree, key, entry, mkey = job
        where = tree.describe(key)
        try:
            size, sha = tree.digest(key)
        except FileNotFoundError:
            return Problem("missing", where, f"listed by {mkey} but not found"), 0
        except OSError as exc:
            return Problem("unreadable", where, f"cannot be read ({exc})"), 0
        except Exception as exc:  # noqa: BLE001 (S3 errors such as an archived object: report, go on)
            return Problem("unreadable", where, f"cannot be read ({type(exc).__name__}: {exc})"), 0
        if sha != entry.get("sha256") or size != entry.get("size"):
            return Problem(
                "changed",
                where,
                f"SHA-256 or size differs from {mkey} (size {size}, listed {entry.get('size')})",
            ), size
        return None, size

    with ThreadPoolExecutor(HASH_THREADS) as pool:
        for i, (problem, size) in enumerate(pool.map(check, jobs), 1):
            result.files_checked += 1
            result.bytes_checked += size
            if problem is not None:
                problems.append(problem)
            report("files", i, len(jobs))

    # 3. Files no current manifest lists; files only superseded manifests list.
    current_sha = {
        e["key"]: e.get("sha256")
        for m in latest_by_run.values()
        for e in (m.body or {}).get("outputs", [])
        if isinstance(e, dict) and isinstance(e.get("key"), str)
    }
    old_keys: dict[str, str] = {}  # replaced or removed by a re-run: key -> the superseded manifest
    for m in superseded:
        for entry in (m.body or {}).get("outputs", []):
            if not (isinstance(entry, dict) and isinstance(entry.get("key"), str)):
                continue
            if current_sha.get(entry["key"], "") != entry.get("sha256"):
                old_keys.setdefault(entry["key"], m.key)
    present: set[str] = set()
    for prefix in CHECKED_PREFIXES:
        for key, _ in data.list(prefix):
            present.add(key)
            if key in owner or not _in_range(_run_day(key), date_from, date_to):
                continue
            if key in old_keys and key not in current_sha:
                problems.append(
                    Problem(
                        "unlisted",
                        data.describe(key),
                        f"only the superseded manifest "
                        f"{old_keys[key]} lists it; the newest manifest of its run does not",
                    )
                )
            else:
                problems.append(Problem("unlisted", data.describe(key), "no manifest lists this file"))
    for key, mkey in sorted(old_keys.items()):
        if (key in present and key not in current_sha) or not _in_range(_run_day(key), date_from, date_to):
            continue
        note = f"{data.describe(key)} (content listed by superseded {mkey})"
        if isinstance(data, S3Tree):
            older, marker = data.versions(key)
            state = "behind a delete marker" if marker else ("replaced" if key in present else "deleted")
            note += f": {older} older version(s) kept, {state}"
        result.superseded.append(note)
    problems.sort(key=lambda p: (p.file, p.kind))
    return result


# --- The last verification's result, for pages that must not re-verify (Search, Entity) -------------------

STATUS_FORMAT = "auditlog-verify-status/1"
_PARTITION = re.compile(r"dt=(\d{4}-\d{2}-\d{2})/source=([^/]+)/")


@dataclass(frozen=True)
class VerifySettings(Settings):
    """Where `auditlog verify` and the Pipeline page's check leave their last result for other pages."""

    verify_status: str = setting(
        "",
        "file where the last verification's result is kept for the explorer's Search and Entity warnings; "
        "empty: verify-status.json in a local data folder, else under $XDG_CACHE_HOME/auditlog (~/.cache)",
    )

    def status_path(self, location: str | Path) -> Path:
        """The status file for the data at `location` (a folder, file:// or s3:// URI)."""
        if self.verify_status:
            return Path(self.verify_status).expanduser()
        text = str(location)
        if text.startswith(("s3://", "s3a://")):
            cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
            tag = sha256_hex(text.rstrip("/").encode("utf-8"))[:16]
            return Path(cache) / "auditlog" / f"verify-status-{tag}.json"
        if text.startswith("file://"):
            text = urllib.parse.unquote(urllib.parse.urlparse(text).path)
        return Path(text) / "verify-status.json"


def problem_partition(problem: Problem) -> tuple[str, str] | None:
    """(dt, source) of the data file a problem names, or None (a manifest, report, index or raw file)."""
    m = _PARTITION.search(problem.file.replace("\\", "/"))
    return (m.group(1), m.group(2)) if m else None


def status_of(
    result: VerifyResult,
    checked_at: datetime | None = None,
    *,
    date_from: date | None = None,
    date_to: date | None = None,
) -> dict[str, Any]:
    """The small JSON-able summary other pages read: when, the chain head, each problem with its
    dt/source (data files) or arrival day (files named by run), and the arrival days checked."""
    at = (checked_at or datetime.now(UTC)).astimezone(UTC)
    problems = []
    for p in result.problems:
        part = problem_partition(p)
        day = _run_day(p.file)
        problems.append(
            {
                "kind": p.kind,
                "file": p.file,
                "message": p.message,
                "dt": part[0] if part else None,
                "source": part[1] if part else None,
                "day": day.isoformat() if day else None,
            }
        )
    return {
        "format": STATUS_FORMAT,
        "checked_at": at.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "ok": result.ok,
        "manifests": result.manifests,
        "files_checked": result.files_checked,
        "head": result.head,
        "date_from": date_from.isoformat() if date_from else None,
        "date_to": date_to.isoformat() if date_to else None,
        "problems": problems,
    }


def write_status(path: Path, status: dict[str, Any]) -> None:
    """Replace the status file atomically (a reader sees the old or the new file, never half of one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".verify-status-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(status, out, indent=1)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_status(path: Path) -> dict[str, Any] | None:
    """The status file's content, or None when there is none or it is not a status file."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("format") != STATUS_FORMAT:
        return None
    return doc if isinstance(doc.get("problems"), list) else None
