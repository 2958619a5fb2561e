"""One Vigil stage under Spark's ``transformWithState``: the same code, the same state.

A stage's handles (``vigil.state.keyed.stage``) read and write a ``StateBackend``; here that
backend is ``KeyState``, the whole state of the one key being handled, kept in Spark as a
single value (pickled). Each key group of a micro-batch costs one state read and one write
across the Python worker's socket to the JVM, however many events and handles it touches:
per-call round trips are what make Python stateful processing slow in Spark (docs/spark.md).
The key's pending timers (their names, by time) live in the same value; each time is one
Spark event-time timer.

Within a key group, input rows are handled in event-time order (ties: the order of their
sequence number, the line of the input or the order of derivation). ``now_ms`` is an
event's time, as in the embedded runtime; ``horizon_ms`` is the batch's watermark.
"""

from __future__ import annotations

import json
import os
import pickle
import time
from collections.abc import Iterator
from typing import Any

from vigil.state.keyed.stage import Stage, StageContext

#: columns of every row between stages: what it is (``event``, ``derived`` or ``signal``),
#: the stage that reads it and its key there, its event time (ms and as a timestamp), an order
#: within one event time, and the record (a source line, or MessagePack of a derived event
#: or a signal)
#: where a processor appends where its time went when it closes (``bench/spark.py``)
PROFILE_ENV = "VIGIL_SPARK_PROFILE_DIR"

ROW_DDL = "kind string, stage string, key string, t_ms long, t timestamp, seq long, body binary"


class KeyState:
    """The state of one key of one stage, as a ``StateBackend`` (the key is implied)."""

    __slots__ = ("maps", "timers", "values")

    def __init__(self) -> None:
        self.values: dict[str, tuple[int, Any]] = {}
        self.maps: dict[str, dict[str, tuple[int, Any]]] = {}
        #: timer time -> the names due then
        self.timers: dict[int, list[str]] = {}

    name = "spark-key"

    def get(self, ns: str, key: str) -> tuple[int, Any] | None:
        return self.values.get(ns)

    def put(self, ns: str, key: str, expiry: int, value: Any) -> None:
        self.values[ns] = (expiry, value)

    def delete(self, ns: str, key: str) -> None:
        self.values.pop(ns, None)

    # one key's state lives here for a call; a resident value is an ordinary one
    get_resident = get
    put_resident = put

    def map_get(self, ns: str, key: str, field: str) -> tuple[int, Any] | None:
        return self.maps.get(ns, {}).get(field)

    def map_put(self, ns: str, key: str, field: str, expiry: int, value: Any) -> None:
        self.maps.setdefault(ns, {})[field] = (expiry, value)

    def map_delete(self, ns: str, key: str, field: str) -> None:
        found = self.maps.get(ns)
        if found is not None:
            found.pop(field, None)
            if not found:
                del self.maps[ns]

    def map_items(self, ns: str, key: str) -> Iterator[tuple[str, int, Any]]:
        for field, (expiry, value) in sorted(self.maps.get(ns, {}).items()):
            yield field, expiry, value

    def sweep(self, watermark_ms: int) -> int:
        gone = [ns for ns, (e, _v) in self.values.items() if e <= watermark_ms]
        for ns in gone:
            del self.values[ns]
        n = len(gone)
        for ns in list(self.maps):
            fields = self.maps[ns]
            dead = [f for f, (e, _v) in fields.items() if e <= watermark_ms]
            for f in dead:
                del fields[f]
            n += len(dead)
            if not fields:
                del self.maps[ns]
        return n

    def empty(self) -> bool:
        return not (self.values or self.maps or self.timers)

    def dumps(self) -> bytes:
        return pickle.dumps((self.values, self.maps, self.timers), protocol=5)

    @classmethod
    def loads(cls, blob: bytes | None) -> KeyState:
        state = cls()
        if blob:
            state.values, state.maps, state.timers = pickle.loads(blob)
        return state


def _derived_types() -> dict[str, type]:
    from vigil.events.derived import DerivedEvent

    found: dict[str, type] = {}
    todo = list(DerivedEvent.__subclasses__())
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        found[str(cls.__struct_config__.tag)] = cls
    return found


class StageProcessor:
    """``transformWithState``'s processor for ``stage``; ``readers``: for each derived event
    type, the stages that read it (their rows leave keyed by the reader's key)."""

    def __init__(
        self, stage: Stage, readers: dict[str, list[Stage]], upstream: frozenset[str] = frozenset()
    ) -> None:
        self.stage = stage
        self.readers = readers
        #: derived types read by this stage or one before it: emitting one is a cycle
        self.upstream = upstream

    # the methods Spark calls (pyspark.sql.streaming.StatefulProcessor's); the class is
    # made a subclass of it where pyspark is imported (``job.processor_for``)

    def init(self, handle: Any) -> None:
        import msgspec
        from pyspark.sql.types import BinaryType, StructField, StructType

        from vigil.events.codec import DecodeFailure, decode_one

        self.handle = handle
        #: seconds in state calls (the socket to the JVM) and in the whole of the handlers;
        #: key groups and rows handled
        self.timing = {"state_s": 0.0, "handler_s": 0.0, "keys": 0, "rows": 0}
        self.blob = handle.getValueState(
            "state", StructType([StructField("blob", BinaryType(), True)])
        )
        self._decode_line = decode_one
        self._failure = DecodeFailure
        types = _derived_types()
        self._derived = msgspec.msgpack.Decoder(_union(types))
        self._encode = msgspec.msgpack.Encoder().encode

    def handleInputRows(self, key: Any, rows: Any, timerValues: Any) -> Iterator[Any]:
        from pyspark.sql import Row

        began = time.perf_counter()
        k = key[0]
        wm = max(timerValues.getCurrentWatermarkInMs(), 0)
        state = KeyState.loads(self._blob())
        ctx = self._context(state)
        out: list[Any] = []
        ordered = sorted(rows, key=lambda r: (r.t_ms, r.seq, r.body))
        self.timing["keys"] += 1
        self.timing["rows"] += len(ordered)
        for row in ordered:
            if row.kind == "event":
                event = self._decode_line(bytes(row.body), 0)
                if isinstance(event, self._failure):
                    continue  # the embedded runtime keeps it as a dead letter
            else:
                event = self._derived.decode(bytes(row.body))
            ctx.bind(k, event.event_time_ms, wm)
            try:
                outputs = self.stage.on_event(event, ctx)
            finally:
                ctx.bind(None, 0, 0)
            self._rows(outputs, row.seq + 1, out, Row)
        self._save(state, wm)
        self.timing["handler_s"] += time.perf_counter() - began
        return iter(out)

    def handleExpiredTimer(
        self, key: Any, timerValues: Any, expiredTimerInfo: Any
    ) -> Iterator[Any]:
        from pyspark.sql import Row

        k = key[0]
        at = expiredTimerInfo.getExpiryTimeInMs()
        state = KeyState.loads(self._blob())
        ctx = self._context(state)
        out: list[Any] = []
        for name in state.timers.pop(at, []):
            ctx.bind(k, at, at)
            try:
                outputs = self.stage.on_timer(name, at, ctx)
            finally:
                ctx.bind(None, 0, 0)
            self._rows(outputs, 0, out, Row)
        self._save(state, max(timerValues.getCurrentWatermarkInMs(), 0))
        return iter(out)

    def close(self) -> None:
        where = os.environ.get(PROFILE_ENV)
        if where and getattr(self, "timing", None) and self.timing["keys"]:
            line = json.dumps({"stage": self.stage.name, "pid": os.getpid(), **self.timing})
            with open(os.path.join(where, f"{self.stage.name}.jsonl"), "a") as fh:
                fh.write(line + "\n")

    # --- helpers ------------------------------------------------------------------------

    def _blob(self) -> bytes | None:
        began = time.perf_counter()
        found = self.blob.get()
        self.timing["state_s"] += time.perf_counter() - began
        return None if found is None else found[0]

    def _context(self, state: KeyState) -> StageContext:
        def set_timer(fire_at_ms: int, key: str, name: str) -> None:
            names = state.timers.setdefault(fire_at_ms, [])
            if name not in names:
                names.append(name)
            self.handle.registerTimer(fire_at_ms)

        return StageContext(self.stage, state, set_timer)  # type: ignore[arg-type]

    def _save(self, state: KeyState, watermark_ms: int) -> None:
        state.sweep(watermark_ms)
        began = time.perf_counter()
        if state.empty():
            self.blob.clear()
        else:
            self.blob.update((state.dumps(),))
        self.timing["state_s"] += time.perf_counter() - began

    def _rows(self, outputs: Any, seq: int, out: list[Any], row: Any) -> None:
        from vigil.detectors.base import Signal

        for item in outputs:
            t = item.event_time_ms
            body = self._encode(item)
            if isinstance(item, Signal):
                out.append(
                    row(kind="signal", stage="", key="", t_ms=t, t=_ts(t), seq=seq, body=body)
                )
                continue
            tag = str(type(item).__struct_config__.tag)
            if tag in self.upstream:
                raise RuntimeError(
                    f"stage {self.stage.name} emits {tag}, read by itself or a stage before "
                    "it: a cycle one Spark query cannot run (docs/spark.md)"
                )
            for reader in self.readers.get(tag, ()):
                rk = reader.key_of(item)
                if rk is not None:
                    out.append(
                        row(
                            kind="derived",
                            stage=reader.name,
                            key=rk,
                            t_ms=t,
                            t=_ts(t),
                            seq=seq,
                            body=body,
                        )
                    )


def _ts(ms: int) -> Any:
    import datetime

    return datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.UTC)


def _union(types: dict[str, type]) -> Any:
    from typing import Union

    return Union[tuple(types.values())]  # noqa: UP007 - a runtime union of classes
