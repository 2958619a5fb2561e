"""Spark Structured Streaming's YSB runner (pyspark, ``local[cores]``, Java 17).

One query, all in Spark SQL (no Python worker): the text source, ``from_json`` with the
seven fields, ``event_type = 'view'``, ``(ad_id, event_time)``, a broadcast join with the
campaign table, ``groupBy(window(ts, '10 seconds'), campaign_id).count()`` in update mode
(every trigger writes the windows it changed, with their totals) and no watermark (nothing
dropped, as in the original). Writes go through ``foreachBatch``: the rows are collected to
the driver, stamped with the time. Throughput: ``trigger(availableNow=True)`` over the file;
paced: ``trigger(processingTime='1 second')``, YSB's once a second, over the directory.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from typing import Any

from common import arguments, campaign_of, now_ms, wait_for, write_result

SCHEMA = (
    "user_id string, page_id string, ad_id string, ad_type string, event_type string, "
    "event_time string, ip_address string"
)


def main() -> None:
    args = arguments()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    t0 = time.perf_counter()
    spark = (
        SparkSession.builder.master(f"local[{args.cores}]")
        .appName("ysb")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", str(args.cores))
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    table = spark.createDataFrame(
        sorted(campaign_of(args.table).items()), "ad_id string, campaign_id string"
    )
    # the text source wants a directory: the events file's own, with nothing else in it
    source = args.input.parent if args.mode == "throughput" else args.input
    lines = spark.readStream.format("text").load(str(source))
    events = lines.select(F.from_json("value", SCHEMA).alias("e")).select("e.*")
    views = events.where(F.col("event_type") == "view").select("ad_id", "event_time")
    joined = views.join(F.broadcast(table), "ad_id")
    counts = (
        joined.withColumn("ts", F.timestamp_millis(F.col("event_time").cast("long")))
        .groupBy(F.window("ts", "10 seconds"), "campaign_id")
        .count()
        .select("campaign_id", F.unix_millis(F.col("window.start")).alias("w"), "count")
    )
    windows: dict[tuple[str, int], tuple[int, int]] = {}
    write_times: list[int] = []

    def write(batch: Any, _batch_id: int) -> None:
        rows = batch.collect()
        at = now_ms()
        if rows:
            write_times.append(at)
        for row in rows:
            windows[(row["campaign_id"], int(row["w"]))] = (int(row["count"]), at)

    checkpoint = tempfile.mkdtemp(prefix="ysb-spark-ckpt-")
    writer = (
        counts.writeStream.outputMode("update")
        .foreachBatch(write)
        .option("checkpointLocation", checkpoint)
    )
    if args.mode == "throughput":
        writer = writer.trigger(availableNow=True)
    else:
        writer = writer.trigger(processingTime="1 second")
    startup_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    query = writer.start()
    if args.mode == "paced":
        args.ready.touch()

        def stop_when_told() -> None:
            wait_for(args.stop)
            query.stop()

        threading.Thread(target=stop_when_told, daemon=True).start()
    query.awaitTermination()
    run_s = time.perf_counter() - t0
    spark.stop()
    write_result(args.out, run_s, startup_s, windows, write_times)


if __name__ == "__main__":
    main()
