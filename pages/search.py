"""Search: a filter form, the result grid with Next/Previous pages, the selected row's diff, and export."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, date, datetime, time

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from audit_query import AuditLogQuery, AuditRecord, Page, QueryValidationError, filters
from audit_query.export import EXTENSIONS, MEDIA_TYPES, ExportTooLarge, Format, export_command
from audit_query.export_manifest import SUFFIX
from audit_query.model import ORDERS
from explorer import access, data, urlstate
from explorer.fmt import plural, records_frame
from explorer.guard import require_app
from explorer.state import RANGE_PRESETS, SearchFilters
from explorer.widgets import change_header, diff_view, entity_links, escape_md, lazy_expander

VIEW = "search"
FORMATS: dict[Format, str] = {"csv": "CSV", "jsonl": "JSON Lines", "parquet": "Parquet"}
ORDER_LABELS = {"newest": "Newest first", "oldest": "Oldest first"}
CHANGED_COLUMN = "Changed fields"
_LEGACY_KEYS = {
    "sources": "s_sources",
    "entity_types": "s_etypes",
    "actions": "s_actions",
    "actor_types": "s_atypes",
}


def changed_fields(record: AuditRecord) -> str:
    """The grid's "Changed fields" cell: the names of the record's changed fields, comma-separated (empty
    for a file written before the Changes column)."""
    return ", ".join(field for field, _, _ in record.Changes or ())


def widget_keys() -> dict[str, str]:
    """Each form widget's session key: the dates', then one per row of the filter table."""
    keys = {"range": "s_range", "date_from": "s_from", "date_to": "s_to"}
    keys.update({"time_from": "s_tfrom", "time_to": "s_tto", "order": "s_order", "more": "s_more"})
    keys.update({f.name: _LEGACY_KEYS.get(f.name, f"s_{f.url_key}") for f in filters.FILTERS})
    return keys


W = widget_keys()

#: The filters on the form's second line, always drawn. The others wait in "More filters", whose widgets
#: are drawn only while it is open: each widget drawn costs every Search open and Next click in Chromium
#: (eleven fewer: about 70 ms and 40 ms, bench/RESULTS.md).
FIRST_LINE = ("entity_types", "actions", "actor_name", "entity_id")


def more_filters() -> list[filters.Filter]:
    """The filter-table rows behind "More filters": every row but the sources and the first line."""
    return [f for f in filters.FILTERS if f.name != "sources" and f.name not in FIRST_LINE]


def more_in_use(f: SearchFilters) -> list[filters.Filter]:
    """The rows of "More filters" that the view `f` sets (so the section opens for a link that uses one)."""
    return [flt for flt in more_filters() if getattr(f, flt.name)]


def options(f: filters.Filter, sources: list[str], types: list[str]) -> list[str]:
    """The choices of a multiselect filter: its enum's values, or the sources / entity types found."""
    if f.choices is not None:
        return [c.value for c in f.choices]
    return sources if f.name == "sources" else types


def widget_values(f: SearchFilters, sources: list[str], types: list[str]) -> dict[str, object]:
    """What each form widget shows for the filters `f` (values outside a widget's options are left out)."""
    start, end = f.dates()
    keys = widget_keys()
    out: dict[str, object] = {keys["range"]: f.range, keys["date_from"]: start, keys["date_to"]: end}
    t_from, t_to = f.times()
    out[keys["time_from"]] = t_from.strftime("%H:%M:%S") if t_from else ""
    out[keys["time_to"]] = t_to.strftime("%H:%M:%S") if t_to else ""
    out[keys["order"]] = f.order or ORDERS[0]
    for flt in filters.FILTERS:
        value = getattr(f, flt.name)
        if flt.widget == "multiselect":
            allowed = options(flt, sources, types)
            out[keys[flt.name]] = [v for v in value if v in allowed]
        elif flt.widget == "list_text":
            out[keys[flt.name]] = ", ".join(value)
        elif flt.widget == "checkbox":
            out[keys[flt.name]] = bool(value)
        else:
            out[keys[flt.name]] = value or ""
    return out


def at_time(day: date, text: object) -> date:
    """`day` at the UTC time of day typed (HH:MM or HH:MM:SS), or the whole day when nothing usable is."""
    raw = str(text or "").strip()
    if not raw or day is None:
        return day
    try:
        t = time.fromisoformat(raw)
    except ValueError:
        problem = f"{raw!r} is not a time of day (HH:MM:SS); searching whole days"
        st.session_state["_search_time_problem"] = problem
        return day
    return datetime.combine(day, t.replace(microsecond=0, tzinfo=UTC))


def from_widgets() -> SearchFilters:
    """The filters the submitted form holds (first page, nothing selected)."""
    ss = st.session_state
    keys = widget_keys()
    rng = ss[keys["range"]]
    shown = ss.get("_search_applied") or {}
    typed_keys = [keys[k] for k in ("date_from", "date_to", "time_from", "time_to")]
    if any(ss.get(k) != shown.get(k) for k in typed_keys):
        rng = "custom"  # a typed date or time is what the user means: it wins over the preset
    values: dict[str, object] = {}
    for flt in filters.FILTERS:
        raw = ss.get(keys[flt.name])
        if flt.widget == "multiselect":
            values[flt.name] = tuple(raw or ())
        elif flt.widget == "list_text":
            values[flt.name] = tuple(c.strip() for c in re.split(r"[,\s]+", raw or "") if c.strip())
        elif flt.widget == "checkbox":
            values[flt.name] = bool(raw)
        else:
            values[flt.name] = str(raw or "").strip() or None
    return SearchFilters(
        range=rng,
        date_from=at_time(ss[keys["date_from"]], ss.get(keys["time_from"])) if rng == "custom" else None,
        date_to=at_time(ss[keys["date_to"]], ss.get(keys["time_to"])) if rng == "custom" else None,
        order=None if ss.get(keys["order"]) in (None, ORDERS[0]) else ss[keys["order"]],
        **values,  # type: ignore[arg-type]  # one value per filter-table row, typed by its widget
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


def draw(
    flt: filters.Filter,
    col: DeltaGenerator,
    keys: dict[str, str],
    sources: list[str],
    types: list[str],
    persist: bool = False,
) -> None:
    """One filter's widget, chosen by the table's `widget`, labelled and explained by its row. `persist`:
    the widget keeps its value while it is not drawn (Streamlit's persist_state="session"), as the fields
    of a closed section must: without it their last value is lost, or an older one comes back."""
    key = keys[flt.name]
    keep = "session" if persist else None
    if flt.widget == "multiselect":
        choices = options(flt, sources, types)
        col.multiselect(flt.label, choices, key=key, placeholder=flt.placeholder, persist_state=keep)
    elif flt.widget == "checkbox":
        col.checkbox(flt.label, key=key, help=flt.help, persist_state=keep)
    else:  # the placeholder says it; a help button would be a second element labelled like the field
        col.text_input(flt.label, key=key, placeholder=flt.placeholder, persist_state=keep)


def more_open_for(f: SearchFilters, entered: bool) -> None:
    """Open "More filters" when the page is entered (`entered`: the session's first Search run, or back
    from another page) with a view using one of its filters, or when the view starts using other ones
    than the last view did; close it when it uses none any more; else the user's choice stands (Next,
    Previous, a search that keeps them)."""
    in_use = tuple(flt.name for flt in more_in_use(f))
    if entered or st.session_state.get("_search_more_in_use") != in_use:
        st.session_state[W["more"]] = bool(in_use)
        st.session_state["_search_more_in_use"] = in_use


def filter_form(f: SearchFilters, sources: list[str], types: list[str]) -> bool:
    """Draw the filter form; True when it was submitted."""
    entered = W["range"] not in st.session_state  # Streamlit forgets a page's widgets when it is left
    urlstate.init_widgets("_search_applied", widget_values(f, sources, types))
    more_open_for(f, entered)
    with st.form("search_form", border=True):
        c1, c2, c3, c4 = st.columns([1.2, 1, 1, 2.4])
        c1.selectbox("Date range", list(RANGE_PRESETS), format_func=RANGE_PRESETS.get, key=W["range"])
        c1.radio("Order", ORDERS, format_func=ORDER_LABELS.get, key=W["order"], horizontal=True)
        typed = "Typing a date here searches exactly the dates typed (custom dates)."
        c2.date_input("From", key=W["date_from"], format="YYYY-MM-DD", help=typed)
        c3.date_input("To", key=W["date_to"], format="YYYY-MM-DD", help=typed)
        c2.text_input("From time (UTC)", key=W["time_from"], placeholder="HH:MM:SS", help="optional")
        c3.text_input("To time (UTC)", key=W["time_to"], placeholder="HH:MM:SS", help="optional; inclusive")
        keys = widget_keys()
        draw(filters.by_name("sources"), c4, keys, sources, types)
        for flt, col in zip(map(filters.by_name, FIRST_LINE), st.columns([1.2, 1, 1, 2.4]), strict=True):
            draw(flt, col, keys, sources, types)
        used = len(more_in_use(f))
        label = f"More filters · {used} in use" if used else "More filters"
        more = lazy_expander(label, W["more"], icon=":material/tune:")
        if more is not None:
            # The changed-field rows (field, from, to) share the last line, the explorer switch in its
            # wide column; the other rows fill lines of four in table order.
            rest = more_filters()
            last = [f for f in rest if f.kind == "changed" or f.name == "include_explorer_events"]
            rows = [f for f in rest if f not in last]
            lines = [rows[i : i + 4] for i in range(0, len(rows), 4)]
            for line in [*lines, *(last[i : i + 4] for i in range(0, len(last), 4))]:
                for flt, col in zip(line, more.columns([1.2, 1, 1, 2.4]), strict=False):
                    draw(flt, col, keys, sources, types, persist=True)
        return st.form_submit_button("Search", type="primary", icon=":material/search:")


def pager(f: SearchFilters, q: AuditLogQuery, page: Page) -> None:
    """Previous / Next buttons that follow the page cursors (kept in the URL).

    Each button's callback writes its view to the URL before the script runs, so one run draws the new
    page (a handler ending in st.rerun would run the whole page twice per click)."""
    c1, c2, c3 = st.columns([1, 1, 6])
    prev_q, next_q = q.prev_query(page), q.next_query(page)
    # A cursor is bound to the query's dates: a preset range is pinned to the dates `q` covers, so the link
    # (and "Next" after UTC midnight) keeps meaning these dates.
    pinned = replace(f, range="custom", date_from=q.time_from or q.date_from, date_to=q.time_to or q.date_to)
    back = max(0, (f.offset or 0) - q.limit) or None
    prev_f = (
        replace(pinned, cursor=prev_q.cursor, direction="prev", selected=None, offset=back) if prev_q else f
    )
    on = (f.offset or 0) + len(page.rows)
    next_f = (
        replace(pinned, cursor=next_q.cursor, direction="next", selected=None, offset=on) if next_q else f
    )
    c1.button(
        "Previous", icon=":material/chevron_left:", disabled=prev_q is None, key="page_prev",
        on_click=show, args=(prev_f,),
    )
    c2.button(
        "Next", icon=":material/chevron_right:", disabled=next_q is None, key="page_next",
        on_click=show, args=(next_f,),
    )
    if f.cursor is not None:
        c3.button("First page", key="page_first", on_click=show, args=(f.page_reset(),))


def show(f: SearchFilters) -> None:
    """Make `f` the view the coming run draws (a button callback: it runs before the script)."""
    urlstate.write(VIEW, f.to_params())


def go(f: SearchFilters) -> None:
    """Show the view `f`: write it to the URL and run the page again."""
    show(f)
    st.rerun()


def export_name(q: AuditLogQuery, fmt: Format) -> str:
    """The download's file name (its manifest is this name + .manifest.json)."""
    return f"auditlog-{q.date_from}-{q.date_to}{EXTENSIONS[fmt]}"


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
            blob, rows, pending = data.export_file(q, fmt, progress=progress)
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
        prepared = {"key": key, "data": blob, "manifest": None, "manifest_error": None}
        try:  # the signed sidecar: proof of what was exported, by whom, from which runs
            name = export_name(q, fmt)
            prepared["manifest"] = data.export_manifest(q, fmt, blob, rows, name, not_yet_processed=pending)
        except Exception as exc:  # the file is still offered; say why its proof is not
            prepared["manifest_error"] = f"{type(exc).__name__}: {exc}"
        st.session_state["export_file"] = prepared
    if prepared and prepared["key"] == key:
        name = export_name(q, fmt)
        c1, c2 = st.columns(2)
        c1.download_button(
            f"Download {FORMATS[fmt]} ({total:,} rows)",
            prepared["data"],
            type="primary",
            file_name=name,
            mime=MEDIA_TYPES[fmt],
            key="export_download",
            icon=":material/file_download:",
        )
        if prepared.get("manifest"):
            c2.download_button(
                "Download its signed manifest",
                prepared["manifest"],
                file_name=name + SUFFIX,
                mime="application/json",
                key="export_manifest_download",
                icon=":material/verified:",
                help=f"Keep it beside the file; `auditlog verify-export {name}` checks that neither changed.",
            )
        elif prepared.get("manifest_error"):
            c2.caption(f"No signed manifest: {escape_md(prepared['manifest_error'])}")


def main() -> None:
    st.title("Search")
    data.freshness_bar()
    f = SearchFilters.from_params(urlstate.read(VIEW))
    for problem in f.problems:
        st.warning(f"Link: {escape_md(problem)}")
    if problem := st.session_state.pop("_search_time_problem", None):
        st.warning(escape_md(problem))
    sources = data.guarded(data.allowed_sources) or []
    types = entity_type_options(f, sources)
    if filter_form(f, sources, types):
        go(from_widgets())
    errors = st.container()

    denied = [s for s in f.sources if s not in sources]
    if denied:
        errors.warning(f"Not searched (no data or not in your scope): {escape_md(', '.join(denied))}")
    if not sources:
        errors.info("There is no data you may read yet. Run the ETL, or ask for access to a source.")
        return
    searched = f.search_sources(sources)
    if not searched:
        errors.info(
            f"Only the explorer's own access events ({filters.EXPLORER_SOURCE}) have data you may read: tick "
            f"*{filters.by_name('include_explorer_events').label}* (under *More filters*) or choose that "
            "source."
        )
        return
    try:
        q = f.to_query(searched, data.client()[0].settings.default_limit)
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
    data.warn_tampered((q.date_from, q.date_to), q.sources, where=errors)
    access.record_read(VIEW, q, len(page.rows))
    if not page.rows:
        start, end = q.date_from, q.date_to
        exact = (
            f"Actor names match exactly, the whole name as stored (e.g. `alice@example.com`, not `alice`): "
            f"check {escape_md(repr(f.actor_name))}, or type part of it in *Actor contains* (under *More "
            "filters*). "
            if f.actor_name
            else ""
        )
        st.info(
            f"No events match these filters between {start} and {end}. {exact}Widen the date range (at most "
            f"{data.client()[0].settings.max_range_days} days, or look up one entity id) or remove filters."
        )
        return
    first = min((f.offset or 0) + 1, max(1, total - len(page.rows) + 1))
    st.caption(
        f"{plural(total, 'matching row')} between {q.time_from or q.date_from} and "
        f"{q.time_to or q.date_to} (UTC), {ORDER_LABELS[q.order].lower()} · "
        f"rows {first:,}–{first + len(page.rows) - 1:,}"
    )
    grid_key = f"grid_{abs(hash((q.fingerprint(), f.cursor, f.direction))) % 10**12}"
    grid = records_frame(page.rows)
    at = list(grid.columns).index("Action") + 1
    grid.insert(at, CHANGED_COLUMN, [changed_fields(r) for r in page.rows])
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
