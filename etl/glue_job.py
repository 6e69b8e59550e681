"""The Glue 5.0 ETL job (PySpark 3.5, Python 3.11): one raw arrival day -> Parquet `dt=/source=` files,
quarantine and run report, with the same rows as the local DuckDB ETL (notes: ETL semantics, DESIGN §4).

Deployed as is: `awsglue` is imported only in `main()`, so `transform()` and `run_etl()` run under plain
pyspark for tests. Steps:
1. read each raw gzip object as bytes, cut lines (LF or CRLF) and concatenated objects apart
   (`etl.raw.split_records`, the grammar the local ETL uses: Spark's JSON reader is line based);
   each record is checked for the structural reasons and rewritten as a *prepared* JSON object whose leaves
   are the values' original texts (Spark's Jackson would rewrite numbers and escapes, 1.10 -> 1.1);
2. Spark parses the prepared text with an explicit schema in PERMISSIVE mode with a corrupt-record
   column (records that are not JSON objects land there), parses `time`, explodes entities with
   `posexplode_outer`, removes duplicates (first record in record order wins) and derives dt/source;
3. writes one zstd Parquet file per (dt, source) and the run's entity index (distinct (Key, dt, source))
   into `analytics/_staging/<run_id>/`, deletes this run's old index and files, moves the staged files to
   `analytics/auditlog/dt=/source=/<run_id>.parquet` and the index to
   `analytics/entity_index/<run_id>.parquet`, writes `quarantine/<run_id>.jsonl` and finally
   `reports/<run_id>.json`. Other runs' files are never touched.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import urllib.parse
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from etl import layout
from etl.errors import AuditLogError, ConfigurationError
from etl.raw import jsonl_line as raw_jsonl_line
from etl.raw import read_object_lines
from etl.rules import (
    MESSAGES,
    OBJECT_REASONS,
    REASONS,
    changes,
    format_event_time,
    has_control_character,
    parse_event_time,
    valid_source,
)
from etl.schema import (
    ACTOR_TYPE_NAMES,
    CHANGE_FIELDS,
    COLUMN_NAMES,
    INDEX_COLUMN_NAMES,
    INDEX_ROW_GROUP_SIZE,
    PARTITION_COLUMNS,
)
from etl.settings import EtlSettings

ENGINE = "spark"
CORRUPT = "_corrupt_record"
ROW_GROUP_ROWS = 10_000
STAGING_PREFIX = "analytics/_staging/"
# The acceptance rules (time format and window, source rule, reasons) are etl/rules.py's, shared with local.

# Spark session settings the job relies on (set by `spark_conf()` for local sessions, by main() in Glue).
SPARK_CONF: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MILLIS",
    "spark.sql.parquet.compression.codec": "zstd",
    "spark.sql.sources.partitionOverwriteMode": "static",
}


class EmptyArrivalDay(AuditLogError, ValueError):
    """No raw objects for the requested arrival day."""


# ----------------------------------------------------------------------------- record preparation (Python)


@dataclass(frozen=True)
class PreparedRecord:
    """One record of a raw object: origin, raw text, quarantine reason or prepared JSON."""

    file: str
    line: int
    pos: int
    raw: str
    reason: str | None
    message: str | None
    prepared: str  # JSON object text for Spark (the raw text when the record is not an object)
    records_read: int | None = None  # only for a whole-object entry (reason in etl.rules.OBJECT_REASONS)


def _text(value: Any) -> str | None:
    return None if value is None else value.as_text()


def _get(obj: Any, key: str) -> Any:
    return obj.value.get(key) if obj is not None and obj.kind == "object" else None


def _valid_id(value: Any) -> bool:
    return value is not None and (value.kind == "number" or (value.kind == "string" and value.value != ""))


def _check(rec: Any) -> tuple[str | None, str | None]:
    """The quarantine reason and message (etl.rules) of a parsed record, or (None, None) when it can be
    stored; the checks run in etl.rules.PARSED_REASONS order, as the local ETL's do."""
    reason = _reason(rec)
    return (reason, MESSAGES[reason]) if reason else (None, None)


def _reason(rec: Any) -> str | None:
    if rec.kind != "object":
        return "not_an_object"
    detail = _get(rec, "detail")
    entities = _get(detail, "entities") if detail is not None and detail.kind == "object" else None
    if entities is None or entities.kind != "array" or not entities.value:
        return "no_entities"
    items = entities.value
    if not all(_valid_id(_get(_get(item, "entity"), "id")) for item in items):
        return "entity_without_id"
    for item in items:
        ids = (_text(_get(_get(item, "entity"), "id")), _text(_get(_get(item, "parent"), "id")))
        if any(has_control_character(i) for i in ids):
            return "id_control_character"
    time = _get(rec, "time")
    if time is None or time.kind != "string" or parse_event_time(time.value) is None:
        return "invalid_time"
    source = _get(rec, "source")
    if source is None or source.kind != "string" or not valid_source(source.value):
        return "invalid_source"
    return None


def dedup_key(rec: Any) -> str | None:
    """detail.event_id when it is a non-empty string or a number (its JSON text), else the envelope id."""
    event_id = _get(_get(rec, "detail"), "event_id")
    if _valid_id(event_id):
        return str(event_id.as_text())
    return _text(_get(rec, "id"))


def _json_text(value: Any) -> str | None:
    return None if value is None or value.kind == "null" else value.text


def _prepared(rec: Any) -> str:
    """The record as a JSON object of the table's leaves, each the original text of its value."""
    detail = _get(rec, "detail")
    actor = _get(detail, "actor")
    time = parse_event_time(_get(rec, "time").value)
    entities = []
    for item in _get(detail, "entities").value:
        entity, parent = _get(item, "entity"), _get(item, "parent")
        before, after = _json_text(_get(item, "before")), _json_text(_get(item, "after"))
        entities.append(
            {
                "entity_id": _text(_get(entity, "id")),
                "entity_name": _text(_get(entity, "name")),
                "parent_id": _text(_get(parent, "id")),
                "parent_name": _text(_get(parent, "name")),
                "parent_type": _text(_get(parent, "type")),
                "channel_code": _text(_get(item, "channel_code")),
                "channel_account_code": _text(_get(item, "channel_account_code")),
                "before": before,
                "after": after,
                "changes": [{"Field": f, "Before": b, "After": a} for f, b, a in changes(before, after)],
            }
        )
    return json.dumps(
        {
            "key": dedup_key(rec),
            "time": format_event_time(cast(datetime, time)),  # records without one were rejected
            "detail_type": _text(_get(rec, "detail-type")),
            "source": _get(rec, "source").value,
            "actor_name": _text(_get(actor, "name")),
            "actor_type": _text(_get(actor, "type")),
            "entity_type": _text(_get(detail, "entity_type")),
            "action": _text(_get(detail, "action")),
            "correlation_id": _text(_get(detail, "correlation_id")),
            "entities": entities,
        },
        ensure_ascii=False,
    )


def prepare_lines(file: str, lines: Iterable[str | bytes]) -> Iterator[PreparedRecord]:
    """Cut one raw object's lines (1-based; bytes = not UTF-8) into records and prepare each, in order."""
    for number, line in enumerate(lines, start=1):
        if isinstance(line, bytes):
            text = line.decode("utf-8", errors="replace").rstrip("\r\n")
            msg = f"{MESSAGES['invalid_json']}: not UTF-8"
            yield PreparedRecord(file, number, 0, text, "invalid_json", msg, text)
            continue
        yield from _prepare_line(file, number, line)


def prepare_object(
    key: str, content: bytes | Path, settings: EtlSettings | None = None
) -> list[PreparedRecord]:
    """Decompress one raw gzip object (its bytes or a local path; bounded: etl.raw.read_object_lines, as
    the local ETL) and prepare its records. An object that cannot be read whole adds one entry (line -1)
    with its reason; over-long lines become record_too_large records; the complete lines read before a
    break are prepared."""
    settings = settings or EtlSettings()
    obj = read_object_lines(content, settings.max_object_bytes, settings.max_record_bytes)
    out: list[PreparedRecord] = []
    for no, text in obj.not_utf8:
        msg = f"{MESSAGES['invalid_json']}: not UTF-8"
        out.append(PreparedRecord(key, no, 0, text, "invalid_json", msg, text))
    for no, size, head in obj.too_long:
        msg = f"{MESSAGES['record_too_large']} ({size:,} bytes; raw holds its first characters)"
        out.append(PreparedRecord(key, no, 0, head, "record_too_large", msg, head))
    for numbers, lines in zip(obj.line_no, obj.lines, strict=True):
        for no, line in zip(numbers.tolist(), lines.to_pylist(), strict=True):
            out.extend(_prepare_line(key, no, line))
    if obj.problem is not None:
        p = obj.problem
        out.append(PreparedRecord(key, -1, 0, "", p.reason, f"{MESSAGES[p.reason]}: {p.error}", "",
                                  p.records_read))
    return out


def object_failure(key: str, error: str) -> PreparedRecord:
    """The whole-object quarantine entry of a raw object that could not be opened (nothing read)."""
    message = f"{MESSAGES['unreadable_object']}: {error}"
    return PreparedRecord(key, -1, 0, "", "unreadable_object", message, "", 0)


_S3: list[Any] = []


def _s3_client() -> Any:
    """One S3 client per executor process (making one per object costs more than reading a small one)."""
    if not _S3:
        import boto3

        _S3.append(boto3.client("s3"))
    return _S3[0]


def read_object(uri: str, settings: EtlSettings | None = None, client: Any = None) -> list[PreparedRecord]:
    """Read and prepare one raw object where it lives (run on the executors): a local file through the
    local ETL's own reader (same messages), an S3 object with GetObject. An object that cannot be read
    (permission denied, a KMS key the role may not use, gone since the listing) becomes one
    unreadable_object entry instead of failing the job; the rest of the day goes on."""
    settings = settings or EtlSettings()
    key = raw_key(uri)
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme not in ("s3", "s3a"):
        local = urllib.parse.unquote(parsed.path) if parsed.scheme == "file" else uri
        return prepare_object(key, Path(local), settings)
    try:
        client = client or _s3_client()
        body = client.get_object(Bucket=parsed.netloc, Key=parsed.path.lstrip("/"))["Body"]
        content = body.read()
    except Exception as exc:  # noqa: BLE001 (botocore's ClientError / BotoCoreError: quarantine, go on)
        response = getattr(exc, "response", None)
        error = response.get("Error", {}) if isinstance(response, dict) else {}
        code = error.get("Code") or type(exc).__name__
        return [object_failure(key, f"{code}: {error.get('Message') or exc}")]
    return prepare_object(key, content, settings)


def _prepare_line(file: str, number: int, line: str) -> Iterator[PreparedRecord]:
    from etl.raw import split_records

    line = line.rstrip("\r\n")
    if not line.strip():
        return
    for r in split_records(line):
        if r.error is not None:
            msg = f"{MESSAGES['invalid_json']}: {r.error}"
            yield PreparedRecord(file, number, r.pos, r.text, "invalid_json", msg, r.text)
            continue
        reason, message = _check(r.value)
        prepared = r.text if reason else _prepared(r.value)
        yield PreparedRecord(file, number, r.pos, r.text, reason, message, prepared)


def raw_key(uri: str) -> str:
    """The data-root-relative key (raw/year=...) of a raw object's path or URI.

    >>> raw_key("s3://b/raw/year=2026/month=11/day=27/hour=05/x.json.gz")
    'raw/year=2026/month=11/day=27/hour=05/x.json.gz'
    """
    i = uri.rfind(layout.RAW_PREFIX + "year=")
    if i < 0:
        raise ValueError(f"{uri} is not under a raw/year=... prefix")
    return urllib.parse.unquote(uri[i:]) if uri.startswith("file:") else uri[i:]


# ----------------------------------------------------------------------------- Spark transform


def _prepared_schema() -> Any:
    from pyspark.sql import types as T

    s = T.StringType()
    entity = T.StructType(
        [
            T.StructField(n, s)
            for n in (
                "entity_id",
                "entity_name",
                "parent_id",
                "parent_name",
                "parent_type",
                "channel_code",
                "channel_account_code",
                "before",
                "after",
            )
        ]
        + [T.StructField("changes", T.ArrayType(T.StructType([T.StructField(n, s) for n in CHANGE_FIELDS])))]
    )
    top = [
        T.StructField(n, s)
        for n in (
            "key",
            "time",
            "detail_type",
            "source",
            "actor_name",
            "actor_type",
            "entity_type",
            "action",
            "correlation_id",
        )
    ]
    return T.StructType(top + [T.StructField("entities", T.ArrayType(entity)), T.StructField(CORRUPT, s)])


@dataclass
class TransformResult:
    """What `transform` produced: rows (data columns + dt + source), quarantined records, counts."""

    rows: Any  # pyspark DataFrame
    quarantine: list[dict[str, Any]]
    counts: dict[str, Any] = field(default_factory=dict)


def _actor_type(col: Any) -> Any:
    from pyspark.sql import functions as F

    expr = F.when(col.isNull(), F.lit(None))
    for code, name in ACTOR_TYPE_NAMES.items():
        expr = expr.when(col == str(code), F.lit(name))
    return expr.otherwise(col)


def transform(
    spark: Any, raw_paths: Sequence[str], arrival_day: date, settings: EtlSettings | None = None
) -> TransformResult:
    """Read the raw objects at `raw_paths` (file:// or s3:// URIs); return rows, quarantine and counts.

    Each object is read by a task of its own (`read_object`), so one unreadable object is quarantined
    instead of failing Spark's whole read; `settings` carries the ETL's bounds (max object/record bytes)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    if not raw_paths:
        raise EmptyArrivalDay(f"no raw objects for {arrival_day.isoformat()}")
    for k, v in SPARK_CONF.items():
        spark.conf.set(k, v)
    run = layout.run_id(arrival_day)
    bounds = settings or EtlSettings()
    sc = spark.sparkContext
    uris = sc.parallelize(list(raw_paths), max(1, min(len(raw_paths), 4 * sc.defaultParallelism)))
    records = uris.flatMap(lambda uri: read_object(uri, bounds))
    df = spark.createDataFrame(
        records.map(
            lambda p: (p.file, p.line, p.pos, p.raw, p.reason, p.message, p.prepared, p.records_read)
        ),
        "file string, line int, pos int, raw string, reason string, message string, prepared string, "
        "records_read int",
    ).cache()
    parsed = df.withColumn(
        "j",
        F.from_json(
            "prepared", _prepared_schema(), {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT}
        ),
    ).withColumn(
        "reason",
        F.coalesce(F.col("reason"), F.when(F.col(f"j.{CORRUPT}").isNotNull(), F.lit("invalid_json"))),
    )
    bad = parsed.where(F.col("reason").isNotNull()).orderBy("file", "line", "pos")
    quarantine: list[dict[str, Any]] = []
    for r in bad.select("file", "line", "reason", "message", "raw", "records_read").collect():
        entry = {
            "run_id": run,
            "file": r.file,
            "line": None if r.reason in OBJECT_REASONS else r.line,
            "reason": r.reason,
            "message": r.message or MESSAGES["invalid_json"],
            "raw": None if r.reason in OBJECT_REASONS else r.raw,
        }
        if r.reason in OBJECT_REASONS:
            entry["records_read"] = r.records_read
        quarantine.append(entry)
    objects = [q for q in quarantine if q["reason"] in OBJECT_REASONS]
    records = [q for q in quarantine if q["reason"] not in OBJECT_REASONS]
    good = parsed.where(F.col("reason").isNull())
    first = Window.partitionBy("j.key").orderBy("file", "line", "pos")
    # The first record with a key wins; a record with no key at all is never a duplicate.
    events = (
        good.withColumn("_n", F.row_number().over(first))
        .where((F.col("_n") == 1) | F.col("j.key").isNull())
        .drop("_n")
    )
    ts = F.to_timestamp(F.col("time"))  # session time zone UTC; written as INT64 TIMESTAMP_MILLIS
    exploded = events.select("j.*", F.posexplode_outer("j.entities").alias("p", "e")).withColumn("ts", ts)
    rows = exploded.select(
        F.concat(F.coalesce(F.col("key"), F.lit("")), F.lit(":"), F.col("p").cast("string")).alias("Id"),
        F.col("key").alias("EventId"),
        F.col("ts").alias("Timestamp"),
        F.col("detail_type").alias("DetailType"),
        F.col("actor_name").alias("ActorName"),
        _actor_type(F.col("actor_type")).alias("ActorType"),
        F.col("e.entity_id").alias("EntityId"),
        F.col("e.entity_name").alias("EntityName"),
        F.col("entity_type").alias("EntityType"),
        F.col("e.parent_id").alias("EntityParentId"),
        F.col("e.parent_name").alias("EntityParentName"),
        F.col("e.parent_type").alias("EntityParentType"),
        F.col("e.channel_code").alias("ChannelCode"),
        F.col("e.channel_account_code").alias("ChannelAccountCode"),
        F.col("action").alias("Action"),
        F.col("e.before").alias("Before"),
        F.col("e.after").alias("After"),
        F.col("correlation_id").alias("CorrelationId"),
        F.col("e.changes").alias("Changes"),
        F.date_format(F.col("ts"), "yyyy-MM-dd").alias("dt"),
        F.col("source"),
    ).cache()
    assert tuple(rows.columns) == COLUMN_NAMES + tuple(c.name for c in PARTITION_COLUMNS)
    totals = df.agg(F.count("*").alias("n"), F.count("reason").alias("bad")).first()
    valid = totals.n - len(quarantine)
    stored = events.count()
    events_in = int(totals.n) - len(objects)  # an object entry is not an event
    stats = rows.agg(
        F.count("*").alias("rows"),
        F.sum(F.when(F.col("dt") < arrival_day.isoformat(), 1).otherwise(0)).alias("late"),
        F.max("Timestamp").alias("max_ts"),
    ).first()
    reasons = {r: n for r in REASONS if (n := sum(q["reason"] == r for q in records))}
    counts = {
        "files_in": len(raw_paths),
        "events_in": events_in,
        "quarantined": len(records),
        "duplicates_removed": valid - stored,
        "events_stored": stored,
        "rows_out": int(stats.rows),
        "late_rows": int(stats.late or 0),
        "max_event_time": None
        if stats.max_ts is None
        else format_event_time(stats.max_ts),
        "quarantine_reasons": reasons,
        "quarantined_objects": [
            {k: q[k] for k in ("file", "reason", "message", "records_read")}
            for q in sorted(objects, key=lambda q: q["file"])
        ],
    }
    return TransformResult(rows, quarantine, counts)


# ----------------------------------------------------------------------------- storage (local or S3)


class Store:
    """Keys under a data root on the local disk (path or file:// URI) or in S3 (s3://bucket/prefix/)."""

    def __init__(self, root: str) -> None:
        self.root = root if root.endswith("/") else root + "/"
        parsed = urllib.parse.urlparse(self.root)
        self.s3 = parsed.scheme in ("s3", "s3a")
        if self.s3:
            import boto3

            self.bucket, self.prefix = parsed.netloc, parsed.path.lstrip("/")
            self.client = boto3.client("s3")
        else:
            self.local = Path(urllib.parse.unquote(parsed.path) if parsed.scheme == "file" else self.root)

    def uri(self, key: str) -> str:
        """A URI Spark can read or write for `key`."""
        if self.s3:
            return f"s3://{self.bucket}/{self.prefix}{key}"
        return "file://" + str((self.local / key).resolve())

    def list(self, prefix: str) -> list[str]:
        """Every key under `prefix`, sorted."""
        if self.s3:
            keys = []
            for page in self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix + prefix
            ):
                keys += [o["Key"][len(self.prefix) :] for o in page.get("Contents", [])]
            return sorted(keys)
        base = self.local / prefix
        if not base.is_dir():
            return []
        return sorted(p.relative_to(self.local).as_posix() for p in base.rglob("*") if p.is_file())

    def move(self, src: str, dst: str, source: Store | None = None) -> None:
        """Rename a key, from `source`'s `src` when given (S3: copy then delete exactly that key)."""
        source = source or self
        if self.s3:
            self.client.copy(
                {"Bucket": source.bucket, "Key": source.prefix + src}, self.bucket, self.prefix + dst
            )
            source.client.delete_object(Bucket=source.bucket, Key=source.prefix + src)
            return
        (self.local / dst).parent.mkdir(parents=True, exist_ok=True)
        shutil.move(source.local / src, self.local / dst)

    def delete(self, keys: Iterable[str]) -> None:
        """Delete exactly these keys."""
        for key in keys:
            if self.s3:
                self.client.delete_object(Bucket=self.bucket, Key=self.prefix + key)
            else:
                (self.local / key).unlink(missing_ok=True)

    def put_atomic(self, key: str, data: bytes) -> None:
        """Write `key` so readers see the old or the new content, never a partial one."""
        if self.s3:
            self.client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data)
            return
        path = self.local / key
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)

    def remove_tree(self, prefix: str) -> None:
        """Delete every key under `prefix` (and on disk the folders)."""
        self.delete(self.list(prefix))
        if not self.s3 and (self.local / prefix).exists():
            shutil.rmtree(self.local / prefix)


def _partition_values(key: str) -> dict[str, str]:
    parts = {}
    for seg in key.split("/"):
        if "=" in seg:
            k, v = seg.split("=", 1)
            parts[k] = urllib.parse.unquote(v)  # Spark escapes partition values like Hive (%3A for ':')
    return parts


def _stage_index(spark: Any, result: TransformResult, data: Store, staging: str) -> str | None:
    """Write the run's entity index (distinct (Key, dt, source), Key an entity, parent or correlation id,
    sorted) as one file under `staging`; return its key, or None when the run has no rows."""
    from pyspark.sql import functions as F

    if not result.counts["rows_out"]:
        return None
    rows = result.rows
    keys = (
        rows.select(F.col("EntityId").alias("Key"), "dt", "source")
        .unionByName(rows.select(F.col("EntityParentId").alias("Key"), "dt", "source"))
        .unionByName(rows.select(F.col("CorrelationId").alias("Key"), "dt", "source"))
        .where(F.col("Key").isNotNull())
        .distinct()
    )
    assert tuple(keys.columns) == INDEX_COLUMN_NAMES
    hadoop = spark.sparkContext._jsc.hadoopConfiguration()
    hadoop.set("parquet.block.row.count.limit", str(INDEX_ROW_GROUP_SIZE))
    folder = f"{staging}_index/"
    keys.repartition(1).sortWithinPartitions(*INDEX_COLUMN_NAMES).write.mode("overwrite").option(
        "compression", "zstd"
    ).parquet(data.uri(folder))
    files = [k for k in data.list(folder) if k.endswith(".parquet")]
    if len(files) != 1:
        raise RuntimeError(f"Spark wrote {len(files)} entity index files; expected one")
    return files[0]


def write_outputs(
    spark: Any, result: TransformResult, data: Store, arrival_day: date, stage: Store | None = None
) -> list[dict[str, Any]]:
    """Stage one Parquet file per (dt, source) and the entity index, replace this run's old files (the old
    index first, the new index last), return the partitions. `stage`: where the staging folder lives (default
    `data`; on AWS a bucket without Object Lock, so staged files leave no locked versions)."""
    from pyspark.sql import functions as F

    run = layout.run_id(arrival_day)
    staging = f"{STAGING_PREFIX}{run}/"
    stage = stage or data
    stage.remove_tree(staging)
    for k, v in SPARK_CONF.items():
        spark.conf.set(k, v)
    staged_index = _stage_index(spark, result, stage, staging)
    spark.sparkContext._jsc.hadoopConfiguration().set("parquet.block.row.count.limit", str(ROW_GROUP_ROWS))
    (
        result.rows.repartition("dt", "source")
        .sortWithinPartitions("dt", "source", "EntityId", "Timestamp", "Id")
        .write.mode("overwrite")  # only the run's own staging folder
        .partitionBy("dt", "source")
        .option("compression", "zstd")
        .parquet(stage.uri(staging + "data/"))
    )
    staged = [k for k in stage.list(staging + "data/") if k.endswith(".parquet")]
    counts = {
        (r.dt, r.source): r.n
        for r in result.rows.groupBy("dt", "source").agg(F.count("*").alias("n")).collect()
    }
    moves: list[tuple[str, str, dict[str, Any]]] = []
    for key in staged:
        vals = _partition_values(key[len(staging + "data/") :])
        dt, source = vals["dt"], vals["source"]
        final = f"{layout.analytics_partition_prefix(date.fromisoformat(dt), source)}{run}.parquet"
        moves.append((key, final, {"dt": dt, "source": source, "rows": counts[(dt, source)], "file": final}))
    if len({m[1] for m in moves}) != len(moves):
        raise RuntimeError("Spark wrote more than one file for a partition; expected one per (dt, source)")
    index_key = layout.entity_index_key(arrival_day)
    data.delete([index_key])
    own = [k for k in data.list(layout.ANALYTICS_PREFIX) if k.rsplit("/", 1)[-1] == f"{run}.parquet"]
    data.delete(own)
    for src, dst, _ in moves:
        data.move(src, dst, stage)
    if staged_index is not None:
        data.move(staged_index, index_key, stage)
    stage.remove_tree(staging)
    return sorted((m[2] for m in moves), key=lambda p: (p["dt"], p["source"]))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def run_etl(
    spark: Any,
    raw_root: str,
    data_root: str,
    arrival_day: date,
    signer: Any = None,
    staging_root: str | None = None,
    settings: EtlSettings | None = None,
) -> dict[str, Any]:
    """Process one arrival day: raw objects under `raw_root`, outputs under `data_root`; return the report.

    With a `signer` (etl.signing, e.g. a KmsSigner) the run ends by appending its signed manifest.
    `staging_root`: where `analytics/_staging/` lives (default `data_root`); `settings`: the ETL's bounds.
    """
    started = _now()
    raw = Store(raw_root)
    day_prefix = layout.raw_day_prefix(arrival_day)
    keys = [k for k in raw.list(day_prefix) if k.endswith(".gz") and k[len(day_prefix) :].startswith("hour=")]
    if not keys:
        raise EmptyArrivalDay(
            f"no raw .gz objects under {raw.uri(day_prefix) if raw.s3 else raw.local / day_prefix}"
        )
    result = transform(spark, [raw.uri(k) for k in keys], arrival_day, settings)
    data = Store(data_root)
    stage = Store(staging_root) if staging_root else None
    partitions = write_outputs(spark, result, data, arrival_day, stage)
    run = layout.run_id(arrival_day)
    if result.quarantine:
        data.put_atomic(
            layout.quarantine_key(arrival_day),
            "".join(raw_jsonl_line(q) for q in result.quarantine).encode("utf-8"),
        )
    else:
        data.delete([layout.quarantine_key(arrival_day)])
    c = result.counts
    report = {
        "run_id": run,
        "arrival_day": arrival_day.isoformat(),
        "engine": ENGINE,
        "started_at": started,
        "finished_at": _now(),
        **{k: c[k] for k in ("files_in", "events_in", "quarantined", "duplicates_removed", "events_stored")},
        **{k: c[k] for k in ("rows_out", "late_rows", "max_event_time")},
        "partitions": partitions,
        "index_file": layout.entity_index_key(arrival_day) if c["rows_out"] else None,
        "quarantine_reasons": c["quarantine_reasons"],
        "quarantined_objects": c["quarantined_objects"],
    }
    data.put_atomic(layout.report_key(arrival_day), (json.dumps(report, indent=2) + "\n").encode("utf-8"))
    result.rows.unpersist()
    if signer is not None:
        write_run_manifest(spark, raw_root, data_root, report, keys, signer)
    return report


def write_run_manifest(
    spark: Any, raw_root: str, data_root: str, report: dict[str, Any], raw_keys: list[str], signer: Any
) -> str:
    """The run's last step: the same signed, chained manifest the local ETL writes (etl/manifest.py)."""
    from etl.manifest import tree_for, write_manifest

    index_rows = None
    if report["index_file"]:
        index_rows = spark.read.parquet(Store(data_root).uri(report["index_file"])).count()
    key, _ = write_manifest(
        tree_for(data_root), tree_for(raw_root), report, raw_keys, signer, index_rows=index_rows
    )
    return key


def resolve_arrival_day(value: str, now: datetime | None = None) -> date:
    """`yesterday`, `today` or YYYY-MM-DD -> date (UTC).

    >>> resolve_arrival_day("yesterday", datetime(2026, 11, 28, 1, 30, tzinfo=UTC))
    datetime.date(2026, 11, 27)
    """
    now = now or datetime.now(UTC)
    if value == "yesterday":
        return (now - timedelta(days=1)).date()
    if value == "today":
        return now.date()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"--arrival_day {value!r}: use YYYY-MM-DD, 'yesterday' or 'today'") from None


LIMIT_ARGUMENTS = ("max_object_bytes", "max_record_bytes")
"""Optional job arguments (`--max_object_bytes N`): the EtlSettings of those names; absent: its default."""


def job_settings(arguments: dict[str, str]) -> EtlSettings:
    """The ETL bounds from the job's optional arguments, each a positive whole number of bytes.

    >>> job_settings({}) == EtlSettings(), job_settings({"max_record_bytes": "2048"}).max_record_bytes
    (True, 2048)
    """
    values: dict[str, int] = {}
    for name, text in arguments.items():
        if name not in LIMIT_ARGUMENTS:
            known = ", ".join(f"--{n}" for n in LIMIT_ARGUMENTS)
            raise ConfigurationError(f"--{name}: not a job argument; use one of {known}")
        try:
            values[name] = int(text)
        except ValueError:
            values[name] = 0
        if values[name] <= 0:
            raise ConfigurationError(f"--{name} {text!r}: expected a positive whole number of bytes")
    return EtlSettings(**values)


def main() -> None:
    """Glue entry point: --raw_uri s3://raw-bucket/ --data_uri s3://analytics-bucket/ --arrival_day D
    [--max_object_bytes N] [--max_record_bytes N]."""
    from awsglue.context import GlueContext
    from awsglue.job import Job
    from awsglue.utils import getResolvedOptions
    from pyspark.context import SparkContext

    args = getResolvedOptions(sys.argv, ["JOB_NAME", "raw_uri", "data_uri", "arrival_day"])
    signer = None
    if "--manifest_kms_key_id" in sys.argv:  # the template passes it: runs end with a KMS-signed manifest
        import boto3

        from etl.signing import KmsSigner

        kms_key = getResolvedOptions(sys.argv, ["manifest_kms_key_id"])["manifest_kms_key_id"]
        signer = KmsSigner(boto3.client("kms"), kms_key)
    staging_root = None
    if "--staging_uri" in sys.argv:  # the template's unlocked staging bucket
        staging_root = getResolvedOptions(sys.argv, ["staging_uri"])["staging_uri"]
    settings = job_settings(
        {n: getResolvedOptions(sys.argv, [n])[n] for n in LIMIT_ARGUMENTS if f"--{n}" in sys.argv}
    )
    glue_context = GlueContext(SparkContext.getOrCreate())
    spark = glue_context.spark_session
    for k, v in SPARK_CONF.items():
        spark.conf.set(k, v)
    job = Job(glue_context)
    job.init(args["JOB_NAME"], args)
    day = resolve_arrival_day(args["arrival_day"])
    report = run_etl(
        spark, args["raw_uri"], args["data_uri"], day, signer=signer, staging_root=staging_root,
        settings=settings,
    )
    print(json.dumps(report))
    job.commit()


if __name__ == "__main__":
    main()
