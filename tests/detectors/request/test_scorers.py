"""Request-time findings from facts: what each scorer sees, and that it never changes them."""

from __future__ import annotations

import dataclasses

import msgspec

from vigil.detectors.base import Signal
from vigil.detectors.request import score_request
from vigil.detectors.request.parcel import (
    REASON_AWAY,
    REASON_DELIVERED_NOT_RECEIVED,
    REASON_LABEL_ELSEWHERE,
    REASON_LIGHT_SCAN,
    parcel_finding,
)
from vigil.detectors.request.profile import (
    REASON_AGENT_FLAGGED,
    REASON_AGENT_RISKY_AGAIN,
    REASON_FRESH_ORDER,
    REASON_REPEAT,
    REASON_UNDELIVERED,
    REASON_YOUNG,
    profile_finding,
)
from vigil.detectors.request.session import session_finding
from vigil.detectors.return_centres import ReturnCentres
from vigil.detectors.settings import DetectorSettings
from vigil.events.schemas import CarrierScan, EventBase, RefundRequested, ReturnLabelCreated
from vigil.features.facts import RequestFacts

from .._factories import DAY, HOUR, MINUTE, T0, Events

S = DetectorSettings()
CENTRES = ReturnCentres()
CID, OID, RID = "c-9e1f0b7a3c5d2e48", "o-3c1e7a9b0d2f58", "rf-5b2e9c1d0a7f43"
LAPTOP = ("LAP-15-PRO", 189_900, 2_100)  # sku, price, weight (g)


def _facts(*events: EventBase) -> RequestFacts:
    facts = RequestFacts()
    for ev in events:
        facts.update_one(ev)
    return facts


def _request(t: int, **kw: object) -> RefundRequested:
    base: dict[str, object] = {
        "event_id": "ev-req",
        "event_time_ms": t,
        "refund_id": RID,
        "order_id": OID,
        "customer_id": CID,
        "amount_cents": 189_900,
        "channel": "automatic",
        "policy": "on_first_scan",
        "issued_by": "system",
        "skus": ["LAP-15-PRO"],
    }
    base.update(kw)
    return msgspec.convert(base, RefundRequested)


def _label(t: int, destination: str, postal: str, country: str = "US") -> ReturnLabelCreated:
    return ReturnLabelCreated(
        event_id="ev-label",
        event_time_ms=t,
        return_id="rt-201",
        order_id=OID,
        carrier="UPS",
        tracking_id="1Z999",
        destination_id=destination,
        destination_postal_code=postal,
        destination_country=country,
    )


def _scan(t: int, weight_g: int, postal: str, kind: str = "first_scan") -> CarrierScan:
    return CarrierScan(
        event_id=f"ev-scan-{t}",
        event_time_ms=t,
        return_id="rt-201",
        order_id=OID,
        tracking_id="1Z999",
        scan_type=kind,  # type: ignore[arg-type]
        weight_g=weight_g,
        location_country="US",
        postal_code=postal,
        destination_postal_code="89506",
    )


def _ordered(f: Events) -> list[EventBase]:
    return [
        f.order(OID, T0, customer_id=CID, items=(LAPTOP,)),
        f.delivered(OID, T0 + 2 * DAY, customer_id=CID),
    ]


def test_an_honest_parcel_on_its_way_says_nothing() -> None:
    f = Events()
    t = T0 + 5 * DAY
    facts = _facts(*_ordered(f), _label(t, "wh-reno", "89506"), _scan(t + DAY, 2_700, "94107"))
    assert parcel_finding(_request(t + DAY + HOUR), facts, S.parcel_check, CENTRES) is None


def test_a_light_first_scan_is_seen_before_the_box_is_opened() -> None:
    f = Events()
    t = T0 + 5 * DAY
    facts = _facts(*_ordered(f), _label(t, "wh-reno", "89506"), _scan(t + DAY, 240, "94107"))
    found = parcel_finding(_request(t + DAY + HOUR), facts, S.parcel_check, CENTRES)
    assert found is not None and found.reasons == (REASON_LIGHT_SCAN,)
    assert found.score >= 0.5


def test_a_label_to_a_drop_address_at_the_right_weight_is_seen() -> None:
    """FTID with the right weight, in the right country: the label does not go to a centre."""
    f = Events()
    t = T0 + 5 * DAY
    facts = _facts(*_ordered(f), _label(t, "h:7f3a9c", "10001"), _scan(t + DAY, 2_650, "10001"))
    found = parcel_finding(_request(t + DAY + HOUR), facts, S.parcel_check, CENTRES)
    assert found is not None and REASON_LABEL_ELSEWHERE in found.reasons
    assert found.score >= 0.5


def test_a_parcel_delivered_away_from_its_centre_is_seen() -> None:
    f = Events()
    t = T0 + 5 * DAY
    facts = _facts(
        *_ordered(f),
        _label(t, "wh-reno", "89506"),
        _scan(t + DAY, 2_650, "94107"),
        _scan(t + 3 * DAY, 2_640, "89431", kind="delivered"),
    )
    req = _request(t + 3 * DAY + HOUR, policy="manual_override", channel="agent",
                   issued_by="agent", agent_id="ag-20")  # fmt: skip
    found = parcel_finding(req, facts, S.parcel_check, CENTRES)
    assert found is not None and REASON_AWAY in found.reasons


def test_a_request_after_a_matched_receipt_is_never_an_empty_box() -> None:
    f = Events()
    t = T0 + 5 * DAY
    facts = _facts(
        *_ordered(f),
        _label(t, "wh-reno", "89506"),
        _scan(t + DAY, 240, "94107"),
        f.receipt("rt-201", OID, t + 4 * DAY, weight_g=2_650),
    )
    req = _request(t + 4 * DAY + HOUR, policy="on_receipt")
    assert parcel_finding(req, facts, S.parcel_check, CENTRES) is None


def _dear_override(t: int, **kw: object) -> RefundRequested:
    return _request(
        t,
        **{
            "policy": "manual_override",
            "channel": "agent",
            "issued_by": "agent",
            "agent_id": "ag-20",
            "session_id": "ss-192573b7a06b5b2f",
            "reason": "item_not_received",
            "skus": [],
            **kw,
        },
    )


def test_a_young_account_pushes_a_dear_unreturned_override_over_the_line() -> None:
    f = Events()
    young = _facts(f.signup(CID, T0 - 3 * DAY), *_ordered(f))
    established = _facts(*_ordered(Events()))
    t = T0 + 4 * DAY
    a = profile_finding(_dear_override(t), young, S.request_risk)
    b = profile_finding(_dear_override(t), established, S.request_risk)
    assert a is not None and REASON_YOUNG in a.reasons and a.score >= 0.5
    assert b is None or b.score < a.score


def test_a_lost_parcel_pulls_down_and_a_repeat_client_or_flagged_agent_push_up() -> None:
    f = Events()
    undelivered = _facts(f.order(OID, T0, customer_id=CID, items=(LAPTOP,)))
    t = T0 + 10 * DAY
    lost = profile_finding(_dear_override(t), undelivered, S.request_risk)
    assert lost is None or REASON_UNDELIVERED in lost.reasons
    g = Events()
    earlier = _dear_override(T0 - 20 * DAY, refund_id="rf-0c9094a9a3652e", order_id="o-77")
    repeat = _facts(earlier, *_ordered(g))
    plain = _facts(*_ordered(Events()))
    with_repeat = profile_finding(_dear_override(t), repeat, S.request_risk)
    without = profile_finding(_dear_override(t), plain, S.request_risk)
    flagged = profile_finding(_dear_override(t), plain, S.request_risk, agent_flag=0.99)
    assert with_repeat is not None and REASON_REPEAT in with_repeat.reasons
    assert flagged is not None and REASON_AGENT_FLAGGED in flagged.reasons
    base = 0.0 if without is None else without.score
    assert with_repeat.score > base and flagged.score > base
    small = profile_finding(_dear_override(t, amount_cents=500), plain, S.request_risk, 0.99)
    assert small is None  # a flagged agent's $5 gesture is not a finding


def _earlier_young_refund(
    f: Events, t: int, customer_id: str, order_id: str, refund_id: str
) -> list[EventBase]:
    """Another young account's delivered order, refunded by ag-20's override at ``t``."""
    return [
        f.signup(customer_id, t - 8 * DAY),
        f.order(order_id, t - 6 * DAY, customer_id=customer_id, items=(LAPTOP,)),
        f.delivered(order_id, t - 4 * DAY, customer_id=customer_id),
        _dear_override(t, refund_id=refund_id, order_id=order_id, customer_id=customer_id),
    ]


def test_an_agents_first_unreturned_refund_for_a_young_account_counts_less_than_a_repeat() -> None:
    # an honest agent meets a new customer's porch-theft claim now and then; an insider
    # refunds the ring's fresh accounts again and again
    other = ("c-4a7e21d9b03f6c85", "o-8d2f4b61e9a07c", "rf-e0b7c35a9d1f28")
    t = T0 + 4 * DAY
    ask = _dear_override(t, amount_cents=28_000)  # a $280 console, "not received"
    f = Events()
    first = _facts(f.signup(CID, T0 - 20 * DAY), *_ordered(f))
    g = Events()
    again = _facts(
        *_earlier_young_refund(g, t - 9 * DAY, *other), g.signup(CID, T0 - 20 * DAY), *_ordered(g)
    )
    a = profile_finding(ask, first, S.request_risk)
    b = profile_finding(ask, again, S.request_risk)
    assert a is not None and b is not None
    assert REASON_AGENT_RISKY_AGAIN in b.reasons and REASON_AGENT_RISKY_AGAIN not in a.reasons
    assert b.score >= 0.5 > a.score
    assert (
        "agent ag-20 made 1 other dear or young-account refund with nothing sent back"
        in b.explanation
    )
    assert "first dear or young-account refund with nothing sent back" in a.explanation
    # an earlier refund whose parcel the carrier has scanned since is not one ...
    h = Events()
    scanned = [*_earlier_young_refund(h, t - 9 * DAY, *other)]
    scan = h.scan("rt-77", other[1], t - 7 * DAY)
    returned = _facts(*scanned, scan, h.signup(CID, T0 - 20 * DAY), *_ordered(h))
    c = profile_finding(ask, returned, S.request_risk)
    assert c is not None and REASON_AGENT_RISKY_AGAIN not in c.reasons
    # ... and neither is one older than the window
    k = Events()
    old = t - S.request_risk.agent_risky_window_ms - HOUR
    stale = _facts(
        *_earlier_young_refund(k, old, *other), k.signup(CID, T0 - 20 * DAY), *_ordered(k)
    )
    d = profile_finding(ask, stale, S.request_risk)
    assert d is not None and REASON_AGENT_RISKY_AGAIN not in d.reasons and d.score == a.score


def test_an_earlier_refund_counts_as_risky_by_the_profiles_own_settings() -> None:
    """The facts remember an agent's overrides for accounts up to 90 days old; the profile
    counts one as risky only if it was for an account young by its own setting (45 days) or
    dear: a $25 gesture to a two-month-old account is not an insider's pattern."""
    other = ("c-4a7e21d9b03f6c85", "o-8d2f4b61e9a07c", "rf-e0b7c35a9d1f28")
    t = T0 + 4 * DAY
    ask = _dear_override(t, amount_cents=28_000)
    f = Events()
    x = t - 9 * DAY
    facts = _facts(
        f.signup(other[0], x - 60 * DAY),
        f.order(other[1], x - 6 * DAY, customer_id=other[0], items=(LAPTOP,)),
        f.delivered(other[1], x - 4 * DAY, customer_id=other[0]),
        _dear_override(
            x, refund_id=other[2], order_id=other[1], customer_id=other[0], amount_cents=2_500
        ),
        f.signup(CID, T0 - 20 * DAY),
        *_ordered(f),
    )
    agent = facts.agent("ag-20", t)
    assert agent is not None and [r for _x, r in agent.risky_requests] == [other[2]]
    a = profile_finding(ask, facts, S.request_risk)
    assert a is not None and REASON_AGENT_RISKY_AGAIN not in a.reasons
    wider = dataclasses.replace(S.request_risk, young_account_ms=90 * DAY)
    b = profile_finding(ask, facts, wider)
    assert b is not None and REASON_AGENT_RISKY_AGAIN in b.reasons


def test_an_agents_first_dear_unreturned_override_for_an_established_account_counts_less() -> None:
    # the porch-theft claim of a long-standing customer, refunded in full by override, is the
    # agent's first dear unreturned refund in a month; an insider's is one of many
    t = T0 + 4 * DAY
    ask = _dear_override(t, amount_cents=128_299)
    first = _facts(*_ordered(Events()))
    g = Events()
    other = ("c-0f5d2a8e71b94c36", "o-5a9c03e7d21b6f", "rf-7c41e9a05b3d82")
    again = _facts(
        g.order(other[1], t - 12 * DAY, customer_id=other[0], items=(LAPTOP,)),
        g.delivered(other[1], t - 10 * DAY, customer_id=other[0]),
        _dear_override(t - 6 * DAY, refund_id=other[2], order_id=other[1], customer_id=other[0]),
        *_ordered(g),
    )
    a = profile_finding(ask, first, S.request_risk)
    b = profile_finding(ask, again, S.request_risk)
    assert a is not None and b is not None and REASON_YOUNG not in b.reasons
    assert REASON_AGENT_RISKY_AGAIN in b.reasons and REASON_AGENT_RISKY_AGAIN not in a.reasons
    assert b.score >= 0.5 > a.score
    # an earlier claim on a parcel the carrier never delivered (lost) is an honest one
    h = Events()
    lost = _facts(
        h.order(other[1], t - 12 * DAY, customer_id=other[0], items=(LAPTOP,)),
        _dear_override(t - 6 * DAY, refund_id=other[2], order_id=other[1], customer_id=other[0]),
        *_ordered(h),
    )
    c = profile_finding(ask, lost, S.request_risk)
    assert c is not None and REASON_AGENT_RISKY_AGAIN not in c.reasons and c.score == a.score


def _takeover(f: Events) -> list[EventBase]:
    """An agent with a history of sessions from the office laptop, then one from a new
    device, new IP, abroad, without MFA."""
    evs: list[EventBase] = [f.roster("ag-20")]
    for k in range(4):
        evs.append(f.session(f"ss-00{k}", "ag-20", T0 + k * DAY + 9 * HOUR))
    evs.append(
        f.session(
            "ss-192573b7a06b5b2f",
            "ag-20",
            T0 + 5 * DAY + 2 * HOUR,
            device_id="ad-5c1e",
            ip="154.3.2.1",
            country="NG",
            mfa=False,
        )
    )
    return evs


def test_a_taken_over_session_is_suspect_at_its_first_refund_and_stays_so() -> None:
    f = Events()
    facts = _facts(*_takeover(f))
    t = T0 + 5 * DAY + 2 * HOUR + 3 * MINUTE
    first = _dear_override(t, amount_cents=120_000)
    found = session_finding(first, facts, S.session_risk)
    assert found is not None and found.score >= 0.5
    facts.update_one(first)
    # a later, small refund in the same session: still held for the session
    later = _dear_override(t + 5 * MINUTE, refund_id="rf-1aaf096060baa4", amount_cents=2_500)
    again = session_finding(later, facts, S.session_risk)
    assert again is not None and again.score >= found.score


def test_scoring_reads_facts_and_never_changes_them() -> None:
    f = Events()
    facts = _facts(f.signup(CID, T0 - DAY), *_takeover(f), *_ordered(f),
                   _label(T0 + DAY, "h:7f3a9c", "10001"))  # fmt: skip
    before = msgspec.json.encode(facts.tables, order="sorted")
    out = score_request(_dear_override(T0 + 5 * DAY + 3 * HOUR), facts, S, CENTRES)
    assert {s.detector for s in out} == {"session_risk", "empty_box", "request_risk"}
    assert msgspec.json.encode(facts.tables, order="sorted") == before


def _dest_scan(
    t: int, read_as: str, kind: str = "first_scan", postal: str = "94107"
) -> CarrierScan:
    return CarrierScan(
        event_id=f"ev-scan-{t}",
        event_time_ms=t,
        return_id="rt-201",
        order_id=OID,
        tracking_id="1Z999",
        scan_type=kind,  # type: ignore[arg-type]
        weight_g=2_650,
        location_country="US",
        postal_code=postal,
        destination_postal_code=read_as,
    )


def test_a_second_label_the_carrier_reads_as_a_drop_address_is_seen() -> None:
    """The retailer's label record says the centre; the parcel carries another label, which
    the carrier reads as a drop address: right weight, right country."""
    f = Events()
    t = T0 + 5 * DAY
    facts = _facts(*_ordered(f), _label(t, "wh-reno", "89506"), _dest_scan(t + DAY, "10793"))
    found = parcel_finding(_request(t + DAY + HOUR), facts, S.parcel_check, CENTRES)
    assert found is not None and REASON_LABEL_ELSEWHERE in found.reasons
    assert "10793" in found.explanation


def test_delivered_to_the_centre_and_not_received_days_later_is_seen() -> None:
    f = Events()
    t = T0 + 5 * DAY
    facts = _facts(
        *_ordered(f),
        _label(t, "wh-reno", "89506"),
        _dest_scan(t + DAY, "89506"),
        _dest_scan(t + 3 * DAY, "89506", kind="delivered", postal="89506"),
    )
    soon = _dear_override(t + 3 * DAY + HOUR)
    later = _dear_override(t + 6 * DAY)
    assert parcel_finding(soon, facts, S.parcel_check, CENTRES) is None  # centre not late yet
    found = parcel_finding(later, facts, S.parcel_check, CENTRES)
    assert found is not None and REASON_DELIVERED_NOT_RECEIVED in found.reasons


def test_an_account_that_orders_at_once_after_signing_up_adds_to_a_young_one() -> None:
    f = Events()
    at_once = _facts(f.signup(CID, T0 - 3 * HOUR), *_ordered(f))
    g = Events()
    later = _facts(g.signup(CID, T0 - 20 * DAY), *_ordered(g))
    req = _request(T0 + 4 * DAY, policy="on_first_scan")
    a = profile_finding(req, at_once, S.request_risk)
    b = profile_finding(req, later, S.request_risk)
    assert a is not None and REASON_FRESH_ORDER in a.reasons
    assert b is not None and REASON_FRESH_ORDER not in b.reasons and b.score < a.score


def test_goods_received_and_matched_before_the_request_pull_it_down() -> None:
    """A dear laptop bought right after sign-up and returned intact is an ordinary return
    (the simulator's high-value-return trap): the refund pays for goods that are back. The
    same request after an empty box stays held."""

    def after_receipt(**receipt: object) -> Signal | None:
        f = Events()
        t = T0 + 10 * DAY
        facts = _facts(
            f.signup(CID, T0 - 12 * HOUR),
            *_ordered(f),
            _label(t, "wh-reno", "89506"),
            _scan(t + DAY, 2_650, "94107"),
            f.receipt("rt-201", OID, t + 4 * DAY, weight_g=2_650, **receipt),  # type: ignore[arg-type]
        )
        return profile_finding(
            _request(t + 4 * DAY + HOUR, policy="on_receipt"), facts, S.request_risk
        )

    intact = after_receipt()
    empty = after_receipt(
        items_matched=False,
        condition="empty",
    )
    assert empty is not None and REASON_YOUNG in empty.reasons and empty.score >= 0.5
    assert intact is None or intact.score < 0.5
    assert intact is None or "received and its items matched" in intact.explanation


def test_a_customer_labelled_fraud_is_held_whatever_the_amount() -> None:
    """A person blocked this customer's refund before: the next one, even $25 on receipt,
    waits for a person (the request's own profile would let it through)."""
    from vigil.detectors.request.labels import REASON_CUSTOMER_LABEL, label_finding
    from vigil.events.schemas import InvestigationOutcome

    f = Events()
    earlier = _request(T0 + DAY, refund_id="rf-0c9094a9a3652e")
    blocked = InvestigationOutcome(
        event_id="hold-7", event_time_ms=T0 + 2 * DAY, subject_type="refund",
        subject_id="rf-0c9094a9a3652e", outcome="fraud",
    )  # fmt: skip
    facts = _facts(*_ordered(f), earlier, blocked)
    small = _request(T0 + 3 * DAY, amount_cents=2_500, policy="on_receipt")
    found = label_finding(small, facts, S.labels)
    assert found is not None and found.reasons == (REASON_CUSTOMER_LABEL,)
    assert found.score >= 0.5
    assert label_finding(small, _facts(*_ordered(Events())), S.labels) is None


def test_only_refunds_paid_count_against_what_the_order_cost() -> None:
    """A request refused earlier (never issued) does not make the next one an over-refund."""
    from vigil.detectors.request.profile import REASON_OVER_REFUND

    f = Events()
    refused = _request(T0 + DAY, refund_id="rf-0c9094a9a3652e")  # asked, never paid
    facts = _facts(f.signup(CID, T0 - DAY), *_ordered(f), refused)
    again = _dear_override(T0 + 4 * DAY)
    found = profile_finding(again, facts, S.request_risk)
    assert found is None or REASON_OVER_REFUND not in found.reasons
    paid = f.refund("rf-0c9094a9a3652e", OID, T0 + DAY + 5_000, amount_cents=189_900,
                    customer_id=CID, policy="on_first_scan", issued_by="system")  # fmt: skip
    facts.update_one(paid)
    found = profile_finding(again, facts, S.request_risk)
    assert found is not None and REASON_OVER_REFUND in found.reasons


def test_a_request_that_arrives_after_its_own_payout_is_not_an_over_refund() -> None:
    """Producers are not ordered: the refund_issued of a refund may arrive before its
    refund_requested. Its own payout is not an earlier refund of the order."""
    from vigil.detectors.request.profile import REASON_OVER_REFUND

    f = Events()
    req = _dear_override(T0 + 4 * DAY, amount_cents=189_900)
    paid = f.refund(RID, OID, T0 + 4 * DAY + 5_000, amount_cents=189_900, customer_id=CID)
    facts = _facts(*_ordered(f), paid)
    found = profile_finding(req, facts, S.request_risk)
    assert found is None or REASON_OVER_REFUND not in found.reasons
