"""What the refund model costs on the hot path: µs per event added to the detector pipeline.

``python bench/model_scoring.py [--data EVENTS.jsonl] [--lines N] [--repeats 3]
[--registry DIR] [--train-events FILE --train-truth FILE]``

Runs the embedded runtime over the same input (the first ``--lines`` lines), alternating:

* the default detectors (``vigil run``'s pipeline, no analytics sink);
* the same plus ``refund_model`` (feature tracking on every subscribed event, one
  LightGBM prediction per refund at its decision time, an explanation per emitted signal);
* ``refund_model`` alone, and the bare runtime with no detector (what the loop itself costs).

and prints the median wall time of each, µs per event, the µs per event the model adds
and the ratio with / without the model. Without ``--registry`` a model is trained first on
simulator seed 1 (``--train-events``/``--train-truth``, or a 300k-line simulation).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path


def _head(src: Path, n: int, dst: Path) -> Path:
    with src.open("rb") as fin, dst.open("wb") as fout:
        for i, line in enumerate(fin):
            if i >= n:
                break
            fout.write(line)
    return dst


def _run(detectors: list, path: Path) -> float:  # type: ignore[type-arg]
    from vigil.ingest.sources import FileSource
    from vigil.runtime.embedded import EmbeddedRuntime, RuntimeSettings

    with tempfile.TemporaryDirectory(prefix="vigil-bench-model-") as tmp:
        rt = EmbeddedRuntime(detectors, Path(tmp), RuntimeSettings(analytics=False))
        t0 = time.perf_counter()
        rt.run(FileSource(path))
        return time.perf_counter() - t0


def _train(registry: Path, events: Path, truth: Path) -> None:
    from vigil.models.refund.model import save, train
    from vigil.models.refund.pipeline import labelled_rows

    rows, source, cut = labelled_rows(events, truth_path=truth)
    save(train(rows), registry, horizon_ms=7 * 86_400_000, label_source=source, label_cutoff_ms=cut)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data", type=Path, help="events.jsonl to run over (default: simulate)")
    ap.add_argument("--lines", type=int, default=300_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--registry", type=Path, help="registry holding a `refund` model")
    ap.add_argument("--train-events", type=Path)
    ap.add_argument("--train-truth", type=Path)
    args = ap.parse_args()

    from vigil.detectors.registry import default_detectors
    from vigil.models.refund.detector import build_refund_model_detector
    from vigil.sim import SimConfig, simulate

    with tempfile.TemporaryDirectory(prefix="vigil-bench-model-") as tmp_s:
        tmp = Path(tmp_s)
        registry = args.registry
        if registry is None:
            registry = tmp / "registry"
            if args.train_events and args.train_truth:
                _train(registry, args.train_events, args.train_truth)
            else:
                s = simulate(SimConfig(seed=1, events=300_000), tmp / "train")
                _train(registry, s.events_path, s.truth_path)
        data = args.data
        if data is None:
            data = simulate(SimConfig(seed=2, events=args.lines), tmp / "data").events_path
        path = _head(data, args.lines, tmp / "input.jsonl")
        n = sum(1 for _ in path.open("rb"))

        runs: dict[str, list[float]] = {"none": [], "model": [], "default": [], "default+model": []}
        for _ in range(args.repeats):  # interleaved, so load on the shared machine hits all
            runs["none"].append(_run([], path))
            runs["model"].append(_run([build_refund_model_detector(registry)], path))
            runs["default"].append(_run(default_detectors(), path))
            runs["default+model"].append(
                _run([*default_detectors(), build_refund_model_detector(registry)], path)
            )
    med = {k: statistics.median(v) for k, v in runs.items()}
    us = {k: v / n * 1e6 for k, v in med.items()}
    print(f"{n:,} lines, median of {args.repeats} runs each (wall seconds, µs per line)")
    for k in ("none", "model", "default", "default+model"):
        print(
            f"  {k:<14} {med[k]:7.2f} s  {us[k]:6.2f} µs/event  "
            f"runs {[round(x, 2) for x in runs[k]]}"
        )
    added = us["default+model"] - us["default"]
    print(
        f"refund_model adds {added:.2f} µs per event to the default pipeline "
        f"(target < 50); ratio with / without {med['default+model'] / med['default']:.2f}x"
    )
    print(f"refund_model alone over the bare runtime: {us['model'] - us['none']:.2f} µs per event")


if __name__ == "__main__":
    sys.exit(main())
