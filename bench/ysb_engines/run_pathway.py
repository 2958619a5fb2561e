"""Pathway's YSB runner (``pathway``, its Rust engine, ``PATHWAY_THREADS=cores``).

``pw.io.jsonlines.read`` with the seven fields as strings, ``event_type == "view"``,
``(ad_id, event_time)`` with the time parsed to an int, a join with the campaign table,
``windowby(t, tumbling(10_000 ms), instance=campaign_id).reduce(count())`` with no
behaviour (windows are never forgotten, late events still count, as in the original).
Writes go through ``pw.io.subscribe``: each added row is a window's new total, stamped with
the time of the callback. Throughput: the file in static mode; paced: the directory in
streaming mode, committing input every second (YSB's once a second).
"""

from __future__ import annotations

import os
import time
from typing import Any

from common import arguments, campaign_of, finish_when_told, now_ms, write_result


def main() -> None:
    args = arguments()
    os.environ["PATHWAY_THREADS"] = str(args.cores)
    t0 = time.perf_counter()
    import pathway as pw

    class Event(pw.Schema):
        user_id: str
        page_id: str
        ad_id: str
        ad_type: str
        event_type: str
        event_time: str
        ip_address: str

    class Campaign(pw.Schema):
        ad_id: str
        campaign_id: str

    streaming = args.mode == "paced"
    events = pw.io.jsonlines.read(
        str(args.input),
        schema=Event,
        mode="streaming" if streaming else "static",
        autocommit_duration_ms=1000 if streaming else None,
    )
    table = pw.debug.table_from_rows(Campaign, sorted(campaign_of(args.table).items()))
    views = events.filter(pw.this.event_type == "view").select(
        pw.this.ad_id, t=pw.this.event_time.str.parse_int()
    )
    joined = views.join(table, views.ad_id == table.ad_id).select(table.campaign_id, views.t)
    counts = joined.windowby(
        joined.t, window=pw.temporal.tumbling(duration=10_000), instance=joined.campaign_id
    ).reduce(campaign_id=pw.this._pw_instance, w=pw.this._pw_window_start, n=pw.reducers.count())
    windows: dict[tuple[str, int], tuple[int, int]] = {}
    write_times: list[int] = []
    changed = [False]

    def on_change(key: Any, row: dict[str, Any], time: int, is_addition: bool) -> None:
        if is_addition:
            windows[(row["campaign_id"], int(row["w"]))] = (int(row["n"]), now_ms())
            changed[0] = True

    def on_time_end(time: int) -> None:
        if changed[0]:
            write_times.append(now_ms())
            changed[0] = False

    pw.io.subscribe(counts, on_change=on_change, on_time_end=on_time_end)
    startup_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    if streaming:
        finish_when_told(args, t0, startup_s, windows, write_times)
    pw.run(monitoring_level=pw.MonitoringLevel.NONE)
    write_result(args.out, time.perf_counter() - t0, startup_s, windows, write_times)


if __name__ == "__main__":
    main()
