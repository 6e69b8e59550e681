"""Search: a filter form, the result grid with Next/Previous pages, the selected row's diff, and export."""

from __future__ import annotations

import re
from dataclasses import replace

import streamlit as st

from audit_query import Action, ActorType, AuditLogQuery, Page, QueryValidationError
from audit_query.export import EXTENSIONS, MEDIA_TYPES, ExportTooLarge, Format, export_command
from explorer import access, data, urlstate
from explorer.fmt import plural, records_frame
from explorer.guard import require_app
from explorer.state import RANGE_PRESETS, SearchFilters
from explorer.widgets import change_header, diff_view, entity_links, escape_md

VIEW = "search"
FORMATS: dict[Format, str] = {"csv": "CSV", "jsonl": "JSON Lines", "parquet": "Parquet"}
W = {  # widget keys
    "range": "s_range",
    "date_from": "s_from",
    "date_to": "s_to",
    "sources": "s_sources",
    "entity_types": "s_etypes",
    "actions": "s_actions",
    "actor_name": "s_actor",
    "actor_types": "s_atypes",
    "entity_id": "s_eid",
    "include_children": "s_children",
    "correlation_id": "s_corr",
    "channel_codes": "s_ch",
}


def widget_values(f: SearchFilters, sources: list[str], types: list[str]) -> dict[str, object]:
    """What each form widget shows for the filters `f` (values outside a widget's options are left out)."""
    start, end = f.dates()
    return {
        W["range"]: f.range,
        W["date_from"]: start,
        W["date_to"]: end,
        W["sources"]: [s for s in f.sources if s in sources],
        W["entity_types"]: [t for t in f.entity_types if t in types],
        W["actions"]: [a for a in f.actions if a in {x.value for x in Action}],
        W["actor_name"]: f.actor_name or "",
        W["actor_types"]: [a for a in f.actor_types if a in {x.value for x in ActorType}],
        W["entity_id"]: f.entity_id or "",
        W["include_children"]: f.include_children,
        W["correlation_id"]: f.correlation_id or "",
        W["channel_codes"]: ", ".join(f.channel_codes),
    }


def from_widgets() -> SearchFilters:
    """The filters the submitted form holds (first page, nothing selected)."""
    ss = st.session_state

    def text(key: str) -> str | None:
        value = str(ss.get(W[key]) or "").strip()
        return value or None

    rng = ss[W["range"]]
    shown = ss.get("_search_applied") or {}
    typed = (ss[W["date_from"]], ss[W["date_to"]])
    if typed != (shown.get(W["date_from"]), shown.get(W["date_to"])):
        rng = "custom"  # a typed date is what the user means: it wins over the preset
    return SearchFilters(
        range=rng,
        date_from=ss[W["date_from"]] if rng == "custom" else None,
        date_to=ss[W["date_to"]] if rng == "custom" else None,
        sources=tuple(ss[W["sources"]]),
        entity_types=tuple(ss[W["entity_types"]]),
        actions=tuple(ss[W["actions"]]),
        actor_name=text("actor_name"),
        actor_types=tuple(ss[W["actor_types"]]),
        entity_id=text("entity_id"),
        include_children=bool(ss[W["include_children"]]),
        correlation_id=text("correlation_id"),
        channel_codes=tuple(
            c.strip() for c in re.split(r"[,\s]+", ss[W["channel_codes"]] or "") if c.strip()
        ),
    )


def entity_type_options(f: SearchFilters, sources: list[str]) -> list[str]:
    """Entity types seen in the filter's date range (cached), plus any the filters name."""
    found: list[str] = []
    if sources:
        start, end = f.dates()
        try:
            rows = data.counts(AuditLogQuery(start, end, tuple(sources)), "entity_type")
            found = sorted(r.key for r in rows if r.key)
        except Exception:  # the options are a convenience; the search itself reports errors
            found = []
    return sorted(set(found) | set(f.entity_types))


def filter_form(f: SearchFilters, sources: list[str], types: list[str]) -> bool:
    """Draw the filter form; True when it was submitted."""
    urlstate.init_widgets("_search_applied", widget_values(f, sources, types))
    with st.form("search_form", border=True):
        c1, c2, c3, c4 = st.columns([1.2, 1, 1, 2.4])
        c1.selectbox("Date range", list(RANGE_PRESETS), format_func=RANGE_PRESETS.get, key=W["range"])
        typed = "Typing a date here searches exactly the dates typed (custom dates)."
        c2.date_input("From", key=W["date_from"], format="YYYY-MM-DD", help=typed)
        c3.date_input("To", key=W["date_to"], format="YYYY-MM-DD", help=typed)
        c4.multiselect("Sources", sources, key=W["sources"], placeholder="All sources you may read")
        c1, c2, c3, c4 = st.columns([1.2, 1, 1, 2.4])
        c1.multiselect("Entity types", types, key=W["entity_types"], placeholder="Any")
        c2.multiselect("Actions", [a.value for a in Action], key=W["actions"], placeholder="Any")
        c3.multiselect("Actor types", [t.value for t in ActorType], key=W["actor_types"], placeholder="Any")
        c4.text_input("Channels", key=W["channel_codes"], placeholder="e.g. web, ios (comma-separated)")
        c1, c2, c3, c4 = st.columns([1.2, 1, 1, 2.4])
        c1.text_input("Actor name", key=W["actor_name"], placeholder="exact, e.g. alice@example.com")
        c2.text_input("Entity id", key=W["entity_id"], placeholder="e.g. an order number")
        c3.checkbox("Include children", key=W["include_children"], help="also rows whose parent is this id")
        c4.text_input("Correlation id", key=W["correlation_id"])
        return st.form_submit_button("Search", type="primary", icon=":material/search:")


def pager(f: SearchFilters, q: AuditLogQuery, page: Page) -> None:
    """Previous / Next buttons that follow the page cursors (kept in the URL)."""
    c1, c2, c3 = st.columns([1, 1, 6])
    prev_q, next_q = q.prev_query(page), q.next_query(page)
    # A cursor is bound to the query's dates: a preset range is pinned to the dates `q` covers, so the link
    # (and "Next" after UTC midnight) keeps meaning these dates.
    pinned = replace(f, range="custom", date_from=q.date_from, date_to=q.date_to)
    if c1.button("Previous", icon=":material/chevron_left:", disabled=prev_q is None, key="page_prev"):
        go(replace(pinned, cursor=prev_q.cursor, direction="prev", selected=None) if prev_q else f)
    if c2.button("Next", icon=":material/chevron_right:", disabled=next_q is None, key="page_next"):
        go(replace(pinned, cursor=next_q.cursor, direction="next", selected=None) if next_q else f)
    if f.cursor is not None and c3.button("First page", key="page_first"):
        go(f.page_reset())


def go(f: SearchFilters) -> None:
    """Show the view `f`: write it to the URL and run the page again."""
    urlstate.write(VIEW, f.to_params())
    st.rerun()


def export_section(q: AuditLogQuery, total: int) -> None:
    """Export the whole filtered view: the row count, a format, then a file to download (or the CLI)."""
    cap = data.settings().export_max_rows
    st.write(f"**{total:,}** rows match these filters (every page, not only this one).")
    fmt: Format = (
        st.radio("Format", list(FORMATS), format_func=FORMATS.get, horizontal=True, key="export_format")
        or "csv"
    )
    if total > cap:
        st.warning(
            f"That is more than the {cap:,} rows the explorer exports (AUDITLOG_EXPORT_MAX_ROWS). "
            "Narrow the filters, or run this on a machine with access to the data:"
        )
        s = data.settings()
        data_dir = str(s.data_dir) if s.backend == "duckdb" else None
        st.code(export_command(q, fmt, data_dir=data_dir), language="bash")
        return
    if total == 0:
        st.caption("Nothing to export.")
        return
    key = (data.query_key(q.first_query()), fmt, data.current_user().scope_key)
    prepared = st.session_state.get("export_file")
    if st.button("Prepare file", icon=":material/download:", key="export_prepare"):
        bar = st.progress(0.0, text="Reading rows…")

        def progress(done: int, of: int | None) -> None:
            bar.progress(min(1.0, done / of) if of else 0.0, text=f"{done:,} of {of or done:,} rows")

        try:
            blob, rows = data.export_file(q, fmt, progress=progress)
        except ExportTooLarge as exc:
            st.warning(str(exc))
            return
        except Exception as exc:
            data.show_error(exc)
            return
        bar.empty()
        # No unaudited exports: the file is handed over only once its Export event is stored.
        if not access.record_export(q, fmt, rows):
            return
        prepared = {"key": key, "data": blob}
        st.session_state["export_file"] = prepared
    if prepared and prepared["key"] == key:
        st.download_button(
            f"Download {FORMATS[fmt]} ({total:,} rows)",
            prepared["data"],
            type="primary",
            file_name=f"auditlog-{q.date_from}-{q.date_to}{EXTENSIONS[fmt]}",
            mime=MEDIA_TYPES[fmt],
            key="export_download",
            icon=":material/file_download:",
        )


def main() -> None:
    st.title("Search")
    data.freshness_bar()
    f = SearchFilters.from_params(urlstate.read(VIEW))
    for problem in f.problems:
        st.warning(f"Link: {escape_md(problem)}")
    sources = data.guarded(data.allowed_sources) or []
    types = entity_type_options(f, sources)
    if filter_form(f, sources, types):
        go(from_widgets())
    errors = st.container()

    chosen = [s for s in f.sources if s in sources]
    denied = [s for s in f.sources if s not in sources]
    if denied:
        errors.warning(f"Not searched (no data or not in your scope): {escape_md(', '.join(denied))}")
    if not sources:
        errors.info("There is no data you may read yet. Run the ETL, or ask for access to a source.")
        return
    try:
        q = f.to_query(chosen or sources, data.client()[0].settings.default_limit)
        with st.spinner("Searching…"):
            page = data.page(q)
            total = data.count(q)
    except QueryValidationError as exc:
        data.show_error(exc, errors)
        if exc.field == "cursor" and st.button("Start again from the first page", key="page_restart"):
            go(f.page_reset())
        return
    except Exception as exc:
        data.show_error(exc, errors)
        return

    data.warn_unreadable(page, total, where=errors)
    access.record_read(VIEW, q, len(page.rows))
    if not page.rows:
        start, end = q.date_from, q.date_to
        exact = (
            f"Actor names match exactly, the whole name as stored (e.g. `alice@example.com`, not `alice`): "
            f"check {escape_md(repr(f.actor_name))}. "
            if f.actor_name
            else ""
        )
        st.info(
            f"No events match these filters between {start} and {end}. {exact}Widen the date range (at most "
            f"{data.client()[0].settings.max_range_days} days, or look up one entity id) or remove filters."
        )
        return
    st.caption(
        f"{plural(total, 'matching row')} between {q.date_from} and {q.date_to} (UTC), newest first · "
        f"this page: {plural(len(page.rows), 'row')}"
    )
    grid_key = f"grid_{abs(hash((q.fingerprint(), f.cursor, f.direction))) % 10**12}"
    grid = records_frame(page.rows)
    pending = data.pending_ids()
    waiting = sum(r.Id in pending for r in page.rows)
    if waiting:  # issue 12: rows served from raw objects no run has read
        grid.insert(0, "Stored", [data.PENDING_LABEL if r.Id in pending else "" for r in page.rows])
        st.caption(
            f"{plural(waiting, 'row')} on this page {'is' if waiting == 1 else 'are'} {data.PENDING_LABEL} "
            "(Stored column): read from raw objects by the ETL's rules, stored at the next run"
        )
    event = st.dataframe(
        grid,
        hide_index=True,
        on_select="rerun",
        selection_mode="single-row",
        key=grid_key,
        width="stretch",
        column_config={"Time (UTC)": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss.SSS")},
    )
    pager(f, q, page)

    picked = event.selection.rows if event is not None else []
    if picked and picked[0] < len(page.rows) and page.rows[picked[0]].Id != f.selected:
        f = replace(f, selected=page.rows[picked[0]].Id)
        urlstate.write(VIEW, f.to_params())
    record = next((r for r in page.rows if r.Id == f.selected), None)
    st.subheader("Selected change")
    if record is None:
        st.caption("Select a row to see its before/after, field by field.")
    else:
        st.markdown(f"**{change_header(record)}**")
        diff_view(record, "search")
        entity_links(record, "search")

    with st.expander("Export this view", icon=":material/download:"):
        export_section(q, total)


require_app()
main()
