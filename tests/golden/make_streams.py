"""Build the golden event streams (``tests/golden/*.jsonl``) — run on purpose, not by pytest.

    .venv/bin/python tests/golden/make_streams.py

The streams are small hand-written timelines, one per fraud scenario plus one mix of
legitimate look-alikes (traps), built with the same factories as the detector tests so
they stay valid events. After changing a stream, regenerate the expected alerts with
``VIGIL_UPDATE_GOLDEN=1 .venv/bin/pytest tests/golden`` and review both diffs.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from tests.detectors._factories import DAY, HOUR, MINUTE, T0, Events  # noqa: E402

from vigil.events.codec import encode_one  # noqa: E402
from vigil.events.schemas import EventBase  # noqa: E402

WEEK = 7 * DAY
W0 = T0 - T0 % WEEK + WEEK  # 2026-01-08T00:00Z, start of a 7-day tumbling window


def _finish(f: Events, evs: list[EventBase]) -> list[EventBase]:
    evs.sort(key=lambda e: e.event_time_ms)
    evs.append(f.tick(evs[-1].event_time_ms + 20 * DAY))
    return evs


def _team_week(f: Events, evs: list[EventBase], tag: str) -> None:
    """Rosters and a normal week of work: tier1 a1-a5 small manual refunds, escalations
    e1-e3 large overrides whose parcels do arrive."""
    for a in ("a1", "a2", "a3", "a4", "a5", "a6"):
        evs.append(f.roster(a, T0 - DAY))
    for a in ("e1", "e2", "e3"):
        evs.append(f.roster(a, T0 - DAY, team="escalations"))
    n = 0
    for day in range(6):
        t = W0 + day * DAY + 9 * HOUR
        for i, a in enumerate(("a1", "a2", "a3", "a4", "a5")):
            n += 1
            o = f"o-{tag}{n}"
            evs += [
                f.order(o, t - 3 * DAY, customer_id=f"c-{tag}{n}"),
                f.refund(
                    f"r-{tag}{n}",
                    o,
                    t + i * MINUTE,
                    amount_cents=3_000 + 400 * i,
                    agent_id=a,
                    policy="returnless",
                    customer_id=f"c-{tag}{n}",
                ),
            ]
        for i, a in enumerate(("e1", "e2", "e3")):
            n += 1
            o = f"o-{tag}{n}"
            evs += [
                f.order(o, t - 5 * DAY, customer_id=f"c-{tag}{n}"),
                f.refund(
                    f"r-{tag}{n}",
                    o,
                    t + HOUR + i * MINUTE,
                    amount_cents=52_000 + 3_000 * i,
                    agent_id=a,
                    customer_id=f"c-{tag}{n}",
                ),
                f.scan(f"ret-{tag}{n}", o, t + DAY + i * MINUTE, weight_g=1_300),
                f.receipt(f"ret-{tag}{n}", o, t + 3 * DAY, weight_g=1_250),
            ]


def insider_refund() -> list[EventBase]:
    """A bribed agent (a6) refunds four clients' high-value orders; nothing comes back.

    Clients 0-2 signed up for the job; client 3 uses an account older than the stream, so
    its refund is not listed by ``agent_refunds`` (it looks like an honest not-received
    claim) and only scores under the threshold in ``refund_without_return``."""
    f = Events()
    evs: list[EventBase] = []
    _team_week(f, evs, "w")
    for i in range(4):
        o, c = f"o-ins{i}", f"client{i}"
        t = W0 + (i + 1) * DAY + 14 * HOUR
        if i < 3:
            evs.append(f.signup(c, t - 10 * DAY))
        evs += [
            f.order(o, t - 6 * DAY, customer_id=c, items=(("laptop", 180_000, 2_000),)),
            f.delivered(o, t - 3 * DAY, customer_id=c),
            f.refund(f"r-ins{i}", o, t, amount_cents=180_000, agent_id="a6", customer_id=c),
        ]
    return _finish(f, evs)


def agent_takeover() -> list[EventBase]:
    """a2's credentials used at 03:00 UTC from a new device in VN without MFA: refund burst."""
    f = Events()
    evs: list[EventBase] = [f.roster("a2", T0 - DAY, shift=(9, 17))]
    for day in range(4):
        t = T0 + day * DAY + 9 * HOUR + 5 * MINUTE
        evs += [f.session(f"s-a2-{day}", "a2", t), f.session_end(f"s-a2-{day}", "a2", t + 8 * HOUR)]
    t = T0 + 4 * DAY + 3 * HOUR
    evs.append(
        f.session("s-x", "a2", t, device_id="vm-77", ip="113.5.5.5", country="VN", mfa=False)
    )
    for i in range(4):
        o, c = f"o-to{i}", f"mule{i}"
        evs += [
            f.order(o, T0 - 10 * DAY + i * HOUR, customer_id=c, items=(("camera", 95_000, 900),)),
            f.delivered(o, T0 - 6 * DAY, customer_id=c),
            f.refund(
                f"r-to{i}",
                o,
                t + (i + 1) * 4 * MINUTE,
                amount_cents=95_000,
                agent_id="a2",
                session_id="s-x",
                customer_id=c,
            ),
        ]
    evs.append(f.session_end("s-x", "a2", t + 40 * MINUTE))
    return _finish(f, evs)


def empty_box() -> list[EventBase]:
    """An empty box, a cheaper look-alike of the right weight, and a fake tracking id."""
    f = Events()
    evs: list[EventBase] = []
    cases = (
        ("eb0", {"weight_g": 180, "items_matched": False, "condition": "empty"}, 1_400, "US"),
        (
            "eb1",
            {"weight_g": 1_350, "items_matched": False, "condition": "wrong_item"},
            1_400,
            "US",
        ),
        ("eb2", None, 150, "NG"),
    )
    for i, (tag, receipt, scan_w, scan_country) in enumerate(cases):
        o, ret, c = f"o-{tag}", f"ret-{tag}", f"c-{tag}"
        t = T0 + i * HOUR
        evs += [
            f.order(o, t, customer_id=c, items=(("console", 60_000, 1_200),)),
            f.delivered(o, t + 2 * DAY, customer_id=c),
            f.return_requested(ret, o, t + 6 * DAY, customer_id=c, skus=("console",)),
            f.label(ret, o, t + 6 * DAY + MINUTE),
            f.scan(ret, o, t + 7 * DAY, weight_g=scan_w, country=scan_country),
            f.refund(
                f"r-{tag}",
                o,
                t + 7 * DAY + 2 * HOUR,
                amount_cents=60_000,
                policy="on_first_scan",
                issued_by="system",
                return_id=ret,
                customer_id=c,
            ),
        ]
        if receipt is not None:
            evs.append(f.receipt(ret, o, t + 11 * DAY, **receipt))  # type: ignore[arg-type]
    return _finish(f, evs)


def ring() -> list[EventBase]:
    """Eight fresh accounts on two devices in three countries; few orders, big refunds,
    pushed through one regular agent (a3) or by empty boxes."""
    f = Events()
    evs: list[EventBase] = []
    _team_week(f, evs, "w")
    countries = ("GB", "PL", "RO")
    for i in range(8):
        c, o = f"ring{i}", f"o-ring{i}"
        t = W0 + i * 14 * HOUR
        evs.append(f.signup(c, t - 8 * DAY, country=countries[i % 3]))
        evs += [
            f.order(
                o,
                t - 5 * DAY,
                customer_id=c,
                device_id=f"ring-dev{i % 2}",
                country=countries[i % 3],
                items=(("phone", 110_000, 400),),
            ),
            f.delivered(o, t - 2 * DAY, customer_id=c),
        ]
        if i % 4 == 3:
            ret = f"ret-ring{i}"
            evs += [
                f.scan(ret, o, t, weight_g=420, country=countries[i % 3]),
                f.refund(
                    f"r-ring{i}",
                    o,
                    t + HOUR,
                    amount_cents=110_000,
                    policy="on_first_scan",
                    issued_by="system",
                    return_id=ret,
                    customer_id=c,
                ),
                f.receipt(ret, o, t + 4 * DAY, weight_g=60, items_matched=False, condition="empty"),
            ]
        else:
            evs.append(
                f.refund(
                    f"r-ring{i}", o, t + HOUR, amount_cents=110_000, agent_id="a3", customer_id=c
                )
            )
    return _finish(f, evs)


def legit_mix() -> list[EventBase]:
    """Traps: an intact high-value return, busy escalation agents, a travelling agent with
    MFA in shift, a family on one device, a holiday spike of cheap returnless refunds, an
    undelivered order refunded, refunds on receipt; plus a duplicate and a malformed line
    (added by ``write``)."""
    f = Events()
    evs: list[EventBase] = []
    _team_week(f, evs, "w")
    # high-value return refunded on first scan and received intact
    evs += [
        f.order("o-hv", T0, customer_id="c-hv", items=(("tv", 240_000, 18_000),)),
        f.delivered("o-hv", T0 + 2 * DAY, customer_id="c-hv"),
        f.return_requested("ret-hv", "o-hv", T0 + 4 * DAY, customer_id="c-hv", skus=("tv",)),
        f.scan("ret-hv", "o-hv", T0 + 5 * DAY, weight_g=19_500),
        f.refund(
            "r-hv",
            "o-hv",
            T0 + 5 * DAY + HOUR,
            amount_cents=240_000,
            policy="on_first_scan",
            issued_by="system",
            return_id="ret-hv",
            customer_id="c-hv",
        ),
        f.receipt("ret-hv", "o-hv", T0 + 8 * DAY, weight_g=19_400),
    ]
    # travelling agent a1: usual history, then a session from FR with MFA within the shift
    for day in range(3):
        t = T0 + day * DAY + 8 * HOUR + 10 * MINUTE
        evs += [f.session(f"s-a1-{day}", "a1", t), f.session_end(f"s-a1-{day}", "a1", t + 8 * HOUR)]
    t = T0 + 3 * DAY + 9 * HOUR
    evs += [
        f.session("s-trip", "a1", t, device_id="laptop-1", ip="88.1.2.3", country="FR"),
        f.order("o-trip", T0 - 2 * DAY, customer_id="c-trip", items=(("bag", 45_000, 700),)),
        f.refund(
            "r-trip",
            "o-trip",
            t + 30 * MINUTE,
            amount_cents=45_000,
            session_id="s-trip",
            policy="on_first_scan",
            customer_id="c-trip",
        ),
        f.scan("ret-trip", "o-trip", t + 10 * MINUTE, weight_g=800),
        f.receipt("ret-trip", "o-trip", t + 3 * DAY, weight_g=790),
        f.session_end("s-trip", "a1", t + 7 * HOUR),
    ]
    # family of three on one device, each with an ordinary return received
    for i in range(3):
        c, o, ret = f"fam{i}", f"o-fam{i}", f"ret-fam{i}"
        evs += [
            f.order(o, T0 + i * HOUR, customer_id=c, device_id="family-ipad"),
            f.scan(ret, o, T0 + 5 * DAY, weight_g=1_100),
            f.receipt(ret, o, T0 + 8 * DAY, weight_g=1_050),
            f.refund(
                f"r-fam{i}",
                o,
                T0 + 8 * DAY + HOUR,
                policy="on_receipt",
                issued_by="system",
                return_id=ret,
                customer_id=c,
            ),
        ]
    # holiday spike: many cheap returnless refunds in one day
    for i in range(12):
        c, o = f"hol{i}", f"o-hol{i}"
        evs += [
            f.order(o, T0 + 10 * DAY, customer_id=c, items=(("mug", 2_200 + 100 * i, 300),)),
            f.refund(
                f"r-hol{i}",
                o,
                T0 + 12 * DAY + i * MINUTE,
                amount_cents=2_200 + 100 * i,
                policy="returnless",
                issued_by="system",
                customer_id=c,
            ),
        ]
    # order never delivered, refunded by an agent as returnless (a lost parcel)
    evs += [
        f.order("o-lost", T0, customer_id="c-lost", items=(("shoes", 8_000, 900),)),
        f.refund(
            "r-lost",
            "o-lost",
            T0 + 9 * DAY,
            amount_cents=8_000,
            agent_id="a2",
            policy="returnless",
            customer_id="c-lost",
        ),
    ]
    return _finish(f, evs)


STREAMS = {
    "insider_refund": insider_refund,
    "agent_takeover": agent_takeover,
    "empty_box": empty_box,
    "ring": ring,
    "legit_mix": legit_mix,
}


def write(name: str, events: list[EventBase]) -> None:
    lines = [encode_one(e) for e in events]
    if name == "legit_mix":
        lines.insert(5, lines[4])  # an at-least-once duplicate
        lines.insert(9, b'{"type": "refund_issued", "event_id": "bad-1", "event_time_ms": "soon"}')
    (HERE / f"{name}.jsonl").write_bytes(b"".join(line + b"\n" for line in lines))


if __name__ == "__main__":
    for name, build in STREAMS.items():
        write(name, build())
        print(f"wrote tests/golden/{name}.jsonl")
