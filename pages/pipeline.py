"""Pipeline: the last ETL runs with their counts, quarantined records with reasons, and data freshness."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import streamlit as st

from audit_query.runs import QuarantinedRecord
from explorer import access, data
from explorer.fmt import escape_md, pretty_json, time_text
from explorer.guard import require_app
from explorer.widgets import preformatted

VIEW = "pipeline"
RUNS_SHOWN = 30
QUARANTINE_SHOWN = 500


def age_text(age: timedelta) -> str:
    """How old the newest event is, in words (newer than the clock when negative, e.g. demo data)."""
    if age < timedelta(0):
        return "newer than this server's clock"
    hours = int(age.total_seconds() // 3600)
    return (
        f"{hours // 24} d {hours % 24} h ago"
        if hours >= 24
        else f"{hours} h {age.seconds % 3600 // 60} min ago"
    )


def unreadable_section() -> None:
    """The stored Parquet files queries cannot read (and so leave out), by partition and relative name."""
    broken = data.guarded(data.unreadable_files) or []
    if not broken:
        return
    st.subheader("Unreadable files")
    st.caption(
        f"{len(broken)} stored files cannot be read; every query leaves their rows out and says so. "
        "Re-run the ETL for the arrival day in the file name (a run rewrites its own files), or restore them."
    )
    st.dataframe(
        pd.DataFrame(
            [{"dt": u.dt, "Source": u.source, "File": u.file, "Error": u.error} for u in broken],
            columns=["dt", "Source", "File", "Error"],
        ),
        hide_index=True,
        width="stretch",
    )


def scoped_runs(runs: list, sources: list[str]) -> None:
    """A non-operator's view: rows each run stored for the user's own sources, nothing cross-source."""
    st.caption(
        "Run totals, data freshness and quarantined records cover every source (quarantined records hold "
        "raw, unmasked data), so only users with the operator role see them. Shown: rows stored for "
        + (", ".join(sources) if sources else "none of your sources")
        + "."
    )
    mine = [r for r in runs if any(s in r.source_rows for s in sources)]
    if not mine:
        st.info("No recent run stored rows of your sources.")
        return
    st.subheader("Last runs for your sources")
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "Run": r.run_id,
                    "Arrival day": r.arrival_day,
                    "Finished (UTC)": time_text(r.finished_at),
                    **{s: r.source_rows.get(s, 0) for s in sources},
                }
                for r in mine
            ]
        ),
        hide_index=True,
        width="stretch",
    )


def lag_section() -> None:
    """Local mode, operators only (cross-source figures): how far behind each source's stored events are, and
    the raw objects waiting for a run."""
    if not data.current_user().has("operator"):
        return
    found = data.guarded(data.source_lag)
    if found is None:
        return
    newest, waiting = found
    st.subheader("Lag")
    st.caption(
        f"{plural_objects(waiting)} waiting for a run (`auditlog etl --watch` picks them up; the Search and "
        "Entity pages count their events as not yet processed)"
    )
    sources = data.current_user().allowed(sorted(newest))
    if not sources:
        st.caption("No source stored events in the last 3 days.")
        return
    now = datetime.now(UTC).replace(tzinfo=None)
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "Source": s,
                    "Newest stored event (UTC)": f"{newest[s]:%Y-%m-%d %H:%M:%S}",
                    "Lag": age_text(now - newest[s]),
                }
                for s in sources
            ]
        ),
        hide_index=True,
        width="stretch",
    )


def plural_objects(n: int) -> str:
    return f"{n:,} raw object{'' if n == 1 else 's'}"


def main() -> None:
    st.title("Pipeline")
    data.refresh_button()
    store = data.run_store()
    if store is None:
        st.info(
            "Where the run reports live is not configured: set AUDITLOG_RUNS_LOCATION to the data folder "
            "or s3://bucket/prefix the ETL writes reports/ and quarantine/ to."
        )
        return
    try:
        fresh = store.freshness()
        runs = store.runs(limit=RUNS_SHOWN)
    except Exception as exc:
        data.show_error(exc)
        return
    if not runs:
        st.info("No ETL run has reported yet. Run `auditlog etl --all` (local) or the Glue job (cloud).")
        return
    user = data.current_user()
    access.record_read(VIEW, {"runs": len(runs), "operator": user.has("operator")}, len(runs))
    if not user.has("operator"):
        scoped_runs(runs, user.allowed(sorted({s for r in runs for s in r.source_rows})))
        unreadable_section()  # only the files of the user's own sources
        return
    c1, c2, c3 = st.columns(3)
    if fresh.events_up_to is not None:
        up_to = fresh.events_up_to
        c1.metric("Events up to", f"{up_to:%Y-%m-%d %H:%M} UTC", help="the newest event time any run stored")
        c1.caption(f"events up to {time_text(up_to)} · {age_text(datetime.now(UTC) - up_to)}")
    c2.metric("Last run", fresh.last_run_id or "–", help=f"finished {time_text(fresh.last_run_finished)}")
    c3.metric("Quarantined (shown runs)", f"{sum(r.quarantined for r in runs):,}")
    st.subheader("Last runs")
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "Run": r.run_id,
                    "Arrival day": r.arrival_day,
                    "Engine": r.engine,
                    "Finished (UTC)": time_text(r.finished_at),
                    "Files": r.files_in,
                    "Events in": r.events_in,
                    "Quarantined": r.quarantined,
                    "Duplicates removed": r.duplicates_removed,
                    "Events stored": r.events_stored,
                    "Rows out": r.rows_out,
                    "Late rows": r.late_rows,
                    "Partitions": r.partitions,
                    "Max event time": time_text(r.max_event_time),
                }
                for r in runs
            ]
        ),
        hide_index=True,
        width="stretch",
    )

    unreadable_section()

    st.subheader("Quarantine")
    records = store.quarantine(limit=QUARANTINE_SHOWN)
    if not records:
        st.success("No quarantined records.")
    else:
        reasons = sorted({q.reason for q in records})
        picked = st.multiselect("Reasons", reasons, default=reasons, key="q_reasons")
        rows = [q for q in records if q.reason in picked]
        st.caption(
            f"{len(rows)} of {len(records)} records"
            + (" (first 500)" if len(records) >= 500 else "")
            + " · select a row to read it in full below"
        )
        event = st.dataframe(
            pd.DataFrame(
                [
                    {
                        "Run": q.run_id,
                        "Reason": q.reason,
                        "Message": q.message,
                        "File": q.file,
                        "Line": q.line,
                        "Raw record": q.raw,
                    }
                    for q in rows
                ]
            ),
            hide_index=True,
            width="stretch",
            key="q_grid",
            on_select="rerun",
            selection_mode="single-row",
        )
        chosen = list(getattr(getattr(event, "selection", None), "rows", None) or [])
        if rows:
            quarantine_record(rows[chosen[0]] if chosen and chosen[0] < len(rows) else rows[0])
    for problem in store.problems:
        st.warning(f"Skipped: {escape_md(problem)}")


def quarantine_record(q: QuarantinedRecord) -> None:
    """One quarantined record in full: why (reason and message), where (object key and line), its raw text."""
    with st.container(border=True, key="q_record"):
        st.markdown(f"**{escape_md(q.reason)}** · run {escape_md(q.run_id)}")
        if q.message:
            st.text(q.message)  # plain text: a message quotes the record, never rendered as Markdown
        where = f"Object key: {q.file or '(unknown)'}" + (f" · line {q.line}" if q.line is not None else "")
        st.text(where)
        if q.raw is None:
            st.caption("No raw text was kept for this record.")
        else:
            preformatted(pretty_json(q.raw))  # JSON indented; anything else as it is


# --- Tamper evidence: the manifest chain, checked on demand (etl/verify.py) ---------------------------------


def chain_section() -> None:
    """The state of the signed manifest chain, checked only when asked (it re-hashes every file)."""
    from etl.manifest import tree_for
    from etl.verify import VerifySettings, status_of, verify_tree, write_status

    location = data.settings().runs_location
    if not location:
        return
    st.subheader("Tamper evidence")
    st.caption(
        "Every ETL run appends a signed manifest (SHA-256 of every file, chained to the previous one). "
        "Checking re-reads every file, so it runs only when you ask; `auditlog verify` does the same."
    )
    if st.button("Verify the manifest chain", key="verify_chain"):
        bar = st.progress(0.0, text="verifying")

        def progress(stage: str, done: int, total: int) -> None:
            bar.progress(done / total if total else 1.0, text=f"verifying {stage}: {done}/{total}")

        try:
            result = verify_tree(tree_for(location), progress=progress)
        except Exception as exc:
            bar.empty()
            data.show_error(exc)
            return
        bar.empty()
        at = datetime.now(UTC)
        st.session_state["chain_check"] = (at, result)
        try:  # Search and Entity warn from this file without re-verifying
            write_status(VerifySettings.from_env().status_path(location), status_of(result, at))
        except OSError:
            st.caption("The result could not be saved for Search and Entity (AUDITLOG_VERIFY_STATUS).")
    checked = st.session_state.get("chain_check")
    if checked is None:
        return
    at, result = checked
    when = f"checked {at:%Y-%m-%d %H:%M:%S} UTC"
    if result.ok and result.manifests:
        head = result.head or {}
        st.success(
            f"Verified up to run {escape_md(str(head.get('run_id')))} (manifest {head.get('seq')}, written "
            f"{escape_md(str(head.get('created_at')))}): {result.manifests} manifests, "
            f"{result.files_checked:,} files · {when}",
            icon=":material/verified:",
        )
    elif result.ok:
        st.warning(f"No manifests yet: nothing proves these files unaltered · {when}")
    else:
        first = result.problems[0]
        st.error(f"{len(result.problems)} problem(s) · {when}", icon=":material/gpp_bad:")
        if data.current_user().scopes is not None:
            st.caption(
                "The problems name files of every source; only users with every source in scope see them."
            )
            return
        st.markdown(
            f"First problem: **{escape_md(first.kind)}** {escape_md(first.file)}: {escape_md(first.message)}"
        )
        st.dataframe(
            pd.DataFrame([{"Problem": p.kind, "File": p.file, "Detail": p.message} for p in result.problems]),
            hide_index=True,
            width="stretch",
        )


require_app()
main()
chain_section()
lag_section()
