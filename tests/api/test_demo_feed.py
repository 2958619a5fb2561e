"""`vigil serve --demo`'s feeder goes on where it stopped instead of posting the stream twice."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import msgspec
import pytest

from vigil.api import demo_feed


class Recorder:
    """Stands in for the HTTP client: keeps what would have been posted."""

    posted: ClassVar[list[bytes]] = []

    def __init__(self, url: str, api_key: str) -> None:
        pass

    def post(self, path: str, body: bytes, content_type: str) -> int:
        if path == "/v1/events":
            Recorder.posted.extend(body.splitlines())
        return 200

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def test_a_restarted_feed_goes_on_from_where_it_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(demo_feed, "Poster", Recorder)
    Recorder.posted = []

    def run(laps: int) -> list[str]:
        start = len(Recorder.posted)
        demo_feed.feed("http://x", "k", tmp_path, 1e9, seed=3, n_events=5_000, laps=laps)
        ids = []
        for raw in Recorder.posted[start:]:
            try:
                event: dict[str, Any] = msgspec.json.decode(raw)
                ids.append(str(event["event_id"]))
            except (msgspec.DecodeError, KeyError, TypeError):
                continue  # the simulator's malformed lines
        return ids

    first = run(laps=1)
    assert first and not any(i.startswith("lap1-") for i in first)
    again = run(laps=1)  # lap 0 is done: nothing of it again
    assert again == []
    second_lap = run(laps=2)
    assert second_lap and all(i.startswith("lap1-") for i in second_lap)
    assert len(second_lap) == len(first)
    # another stream (another seed) starts from its beginning
    (tmp_path / demo_feed.POSITION_FILE).write_bytes(b'{"seed": 9, "events": 3000, "lap": 5}')
    assert demo_feed._resume_at(
        tmp_path / demo_feed.POSITION_FILE, {"seed": 3, "events": 3000}
    ) == (0, 0)
