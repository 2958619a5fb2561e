"""Vigil's YSB runner: ``vigil.ads.ysb.CampaignWindowAggregator`` in one thread.

Throughput: the file mapped in memory, in pieces of 256 KiB ending at a line's end, each
decoded at once.
Paced: the directory polled every 5 ms for new files, read in name order; a write every
second of processing time and when the watermark passes a window's end.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from common import arguments, campaign_of, write_result

from vigil.ads.ysb import CampaignWindowAggregator, file_chunks


def _windows(agg: CampaignWindowAggregator) -> dict[tuple[str, int], tuple[int, int]]:
    return {key: (n, agg.written_ms[key]) for key, n in agg.counts.items()}


def main() -> None:
    args = arguments()
    t0 = time.perf_counter()
    agg = CampaignWindowAggregator(campaign_of(args.table))
    startup_s = time.perf_counter() - t0
    if args.mode == "throughput":
        t0 = time.perf_counter()
        with file_chunks(args.input) as chunks:
            for chunk in chunks:
                agg.process_many(chunk)
        agg.flush()
        write_result(args.out, time.perf_counter() - t0, startup_s, _windows(agg), [])
        return
    seen: set[str] = set()
    write_times: list[int] = []
    writes = 0
    args.ready.touch()
    t0 = time.perf_counter()
    while True:
        stopping = args.stop.exists()
        names = sorted(n for n in os.listdir(args.input) if n not in seen)
        for name in names:
            seen.add(name)
            agg.process_many(Path(args.input, name).read_bytes())
        agg.maybe_flush()
        if agg.writes > writes and agg.written_ms:
            writes = agg.writes
            write_times.append(max(agg.written_ms.values()))
        if stopping and not names:
            break
        if not names:
            time.sleep(0.005)
    agg.flush()
    write_result(args.out, time.perf_counter() - t0, startup_s, _windows(agg), write_times)


if __name__ == "__main__":
    main()
