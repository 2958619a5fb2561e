"""Apache Flink's YSB runner (``apache-flink`` 2.3, Flink SQL in streaming mode, a local
mini-cluster with ``parallelism.default = cores``, Java 17).

One SQL query, all in the JVM: the filesystem source with the ``json`` format and the seven
fields as strings, ``event_type = 'view'``, a join with the campaign table (a ``VALUES``
view), and a group aggregation by campaign and 10 s window start (the event time, parsed,
less itself modulo 10,000). Mini-batches of up to a second make the aggregation emit its
changed windows once a second, as YSB's flusher does, and drop nothing. The rows come back
to this process through ``execute().collect()``: each insert or update is a window's new
total, stamped with the time it arrived. Throughput: the file, bounded (the job ends with
it); paced: the directory, watched every second (``source.monitor-interval``).
"""

from __future__ import annotations

import time

from common import arguments, campaign_of, finish_when_told, now_ms, write_result


def main() -> None:
    args = arguments()
    t0 = time.perf_counter()
    from pyflink.common import Configuration
    from pyflink.table import EnvironmentSettings, TableEnvironment

    config = Configuration()
    config.set_string("parallelism.default", str(args.cores))
    config.set_string("table.exec.mini-batch.enabled", "true")
    config.set_string("table.exec.mini-batch.allow-latency", "1 s")
    config.set_string("table.exec.mini-batch.size", "100000")
    settings = (
        EnvironmentSettings.new_instance().in_streaming_mode().with_configuration(config).build()
    )
    env = TableEnvironment.create(settings)
    paced = args.mode == "paced"
    monitor = ", 'source.monitor-interval' = '1 s'" if paced else ""
    env.execute_sql(
        f"""
        CREATE TABLE events (
            user_id STRING, page_id STRING, ad_id STRING, ad_type STRING,
            event_type STRING, event_time STRING, ip_address STRING
        ) WITH ('connector' = 'filesystem', 'path' = '{args.input}', 'format' = 'json'{monitor})
        """
    )
    rows = ", ".join(f"('{ad}', '{c}')" for ad, c in sorted(campaign_of(args.table).items()))
    env.execute_sql(
        f"CREATE TEMPORARY VIEW campaigns AS SELECT * FROM (VALUES {rows}) AS t(ad_id, campaign_id)"
    )
    query = env.sql_query(
        """
        SELECT c.campaign_id, v.t - MOD(v.t, 10000) AS w, COUNT(*) AS n
        FROM (
            SELECT ad_id, CAST(event_time AS BIGINT) AS t FROM events WHERE event_type = 'view'
        ) AS v
        JOIN campaigns AS c ON v.ad_id = c.ad_id
        GROUP BY c.campaign_id, v.t - MOD(v.t, 10000)
        """
    )
    windows: dict[tuple[str, int], tuple[int, int]] = {}
    write_times: list[int] = []
    startup_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = query.execute()
    if paced:
        finish_when_told(args, t0, startup_s, windows, write_times)
    from pyflink.common import RowKind

    with result.collect() as changes:
        for row in changes:
            if row.get_row_kind() in (RowKind.INSERT, RowKind.UPDATE_AFTER):
                at = now_ms()
                windows[(row[0], int(row[1]))] = (int(row[2]), at)
                if not write_times or write_times[-1] != at:
                    write_times.append(at)
    write_result(args.out, time.perf_counter() - t0, startup_s, windows, write_times)


if __name__ == "__main__":
    main()
