"""Derived events: facts a stage hands to stages keyed otherwise (docs/adr/0004-keyed-state.md).

They never come from producers and are never written to the input; a stage returns them
and the pipeline hands them on at once (``vigil.state.keyed.pipeline``).
"""

from __future__ import annotations

from typing import Any, Final

import msgspec


class DerivedEvent(msgspec.Struct, tag_field="type", frozen=True, kw_only=True, gc=False):
    """A fact one stage hands to stages keyed otherwise (subclasses set ``tag``)."""

    event_time_ms: int


class OrderReturned(DerivedEvent, tag="order_returned", kw_only=True, frozen=True):
    """The warehouse received a return of an order whose customer the order stage knows."""

    order_id: str
    customer_id: str
    condition: str


#: a refund as the sequence detectors keep it (``vigil.detectors.sequences._common.RefundFacts``)
RefundFactsTuple = tuple[str, str, str, int, str, str, str | None, str | None, int]


class ParcelReceived(DerivedEvent, tag="parcel_received", kw_only=True, frozen=True):
    """A return parcel of ``route`` reached its centre: its first-scan-to-receipt time, for
    the route's stage to learn (sent at the receipt's event time)."""

    route: str
    first_scan_ms: int
    received_ms: int


class TransitAsked(DerivedEvent, tag="transit_asked", kw_only=True, frozen=True):
    """An order stage asks the route's stage, as of ``deadline_ms``, when a scanned parcel
    is due and whether the route is established; ``purpose`` and ``refund_id`` are handed
    back in the answer, for the asker to know what it asked for."""

    route: str | None
    order_id: str
    refund_id: str
    first_scan_ms: int
    deadline_ms: int
    purpose: str = "refund"


class TransitAnswered(DerivedEvent, tag="transit_answered", kw_only=True, frozen=True):
    """The route's answer: the parcel is due at ``due_ms`` (first scan + normal transit);
    ``known``: the route had enough received parcels to be an established one."""

    order_id: str
    refund_id: str
    due_ms: int
    deadline_ms: int
    purpose: str = "refund"
    first_scan_ms: int = 0
    known: bool = False


class UnreturnedRefund(DerivedEvent, tag="unreturned_refund", kw_only=True, frozen=True):
    """A refund that reached its deadline without a return, on its way to be scored: the
    customer's stage adds ``young``, the agent|customer stage ``repeat`` and ``earlier``,
    the issuer's stage scores it against the typical refund without return (``step`` says
    which)."""

    step: str
    facts: RefundFactsTuple
    delivered: bool
    parcel: str
    deadline_ms: int
    young: bool = False
    repeat: bool = False
    #: (refund id, amount) of the agent's earlier refunds to this customer that reached
    #: their own deadline without a return, within the repeat window (the agent|customer
    #: stage adds them; an alert on this refund covers them too)
    earlier: tuple[tuple[str, int], ...] = ()


#: an agent's refund as ``agent_refunds`` keeps it: (agent_id, refund_id, amount_cents,
#: policy if manual else "", customer_id, order_id, session_id, time_ms)
AgentRefundValue = tuple[str, str, int, str, str, str, str | None, int]


class ManualRefundUnreturned(
    DerivedEvent, tag="manual_refund_unreturned", kw_only=True, frozen=True
):
    """An agent's manual refund of a delivered order whose goods had not come back by the
    refund's deadline, judged by the order's stage at the judgement of its window."""

    agent_id: str
    window_start_ms: int
    value: AgentRefundValue


class AgentWindowClosed(DerivedEvent, tag="agent_window_closed", kw_only=True, frozen=True):
    """An agent's window judged by the agent's stage: its unreturned manual refunds over the
    history and the manual refunds of the window, for the team's stage to compare."""

    team: str
    agent_id: str
    window_start_ms: int
    unreturned: tuple[AgentRefundValue, ...]
    n_manual: int


class RefundCustomerAge(DerivedEvent, tag="refund_customer_age", kw_only=True, frozen=True):
    """Was the customer of a refund an account signed up shortly before it? Asked of the
    customer's stage (``step`` "customer"), answered to the team's (``step`` "team")."""

    step: str
    team: str
    window_start_ms: int
    refund_id: str
    customer_id: str
    refund_ms: int
    young: bool = False


class AgentSessionOpened(DerivedEvent, tag="agent_session_opened", kw_only=True, frozen=True):
    """A session's start, seen by the session's stage, for its agent's recent sessions."""

    agent_id: str
    session_id: str
    start_ms: int


class SessionEvaluation(DerivedEvent, tag="session_evaluation", kw_only=True, frozen=True):
    """A session on its way to be judged against its agent: the agent's stage evaluates it
    (``step`` "agent"), asking the last trusted session's stage for its end first when the
    evaluation needs it ("previous", then "resume"); the result goes back to the session's
    stage ("session"). ``upto_ms``: the refund time to alert up to (None: the latest)."""

    step: str
    agent_id: str
    session_id: str
    info: tuple[str, int, str, str, str, bool]
    upto_ms: int | None = None
    previous_session_id: str = ""
    previous_end_ms: int | None = None
    evaluation: tuple[float, tuple[str, ...], str, int] | None = None


class SessionRefundAttributed(
    DerivedEvent, tag="session_refund_attributed", kw_only=True, frozen=True
):
    """A refund without a session id, given by its agent's stage to the agent's session that
    started last before it (the session's stage checks it was still open)."""

    session_id: str
    facts: tuple[str, str | None, str | None, int, str, str, int]


#: one recorded entry of a rule's history: (namespace, event time, value, cut); ``cut`` is the
#: time at or before which the namespace's entries are forgotten (None: a lookup, which keeps
#: its latest entries instead)
RuleRecord = tuple[str, int, Any, int | None]


class RuleHistoryRecorded(DerivedEvent, tag="rule_history_recorded", kw_only=True, frozen=True):
    """What the rules record of one event under one of its ids (``key``: ``field=value``,
    such as ``customer_id=c-1``), for that id's history stage."""

    key: str
    records: tuple[RuleRecord, ...]


class RuleHistoryAsked(DerivedEvent, tag="rule_history_asked", kw_only=True, frozen=True):
    """A pending rule evaluation (of event ``asker``, timer ``timer``) asks the history stage
    of ``key`` for its entries in ``namespaces``, as of the evaluation's time."""

    key: str
    asker: str
    timer: str
    namespaces: tuple[str, ...]


class RuleHistoryAnswered(DerivedEvent, tag="rule_history_answered", kw_only=True, frozen=True):
    """The history stage's answer: the ``(event time, value)`` entries of each namespace."""

    asker: str
    timer: str
    histories: tuple[tuple[str, tuple[tuple[int, Any], ...]], ...]


# --- ad analytics (vigil.ads) ------------------------------------------------------------


class AdConversion(DerivedEvent, tag="ad_conversion", kw_only=True, frozen=True):
    """An order credited to a campaign (``kind``: ``click`` or ``view``), or that credit
    taken back (``sign`` -1: a later-arriving impression made another campaign the last
    one the device saw). From the click- and device-keyed stages to the order stage."""

    order_id: str
    campaign_id: str
    advertiser_id: str
    platform: str
    kind: str
    #: the order's time (figures count a conversion in the order's minute)
    order_ms: int
    revenue_cents: int
    sign: int = 1


class AdOrderFlagged(DerivedEvent, tag="ad_order_flagged", kw_only=True, frozen=True):
    """What was said about one of an order's refunds: a person's label (``source``
    ``label``, from the refund-keyed stage) or the runtime's decision (``decision``: deny is
    fraud, anything else clears it), for the order stage."""

    order_id: str
    refund_id: str
    source: str
    fraud: bool


class AdClickJudged(DerivedEvent, tag="ad_click_judged", kw_only=True, frozen=True):
    """A rule's verdict on one click (``reason``: ``click_burst``, ``no_impression``,
    ``fast_order``, ``click_farm``), or the verdict taken back (``invalid`` False): from the
    device- and address-keyed stages to the click stage, which owns the click's verdict."""

    click_id: str
    reason: str
    invalid: bool


class AdClickAtIp(DerivedEvent, tag="ad_click_at_ip", kw_only=True, frozen=True):
    """A click seen from an address, and whether its device had seen the campaign's ad
    before it: from the device stage to the address stage (device farms)."""

    ip: str
    click_id: str
    device_id: str
    campaign_id: str
    click_ms: int
    had_impression: bool


DERIVED_TYPES: Final = frozenset(
    {
        "order_returned",
        "parcel_received",
        "transit_asked",
        "transit_answered",
        "unreturned_refund",
        "manual_refund_unreturned",
        "agent_window_closed",
        "refund_customer_age",
        "agent_session_opened",
        "session_evaluation",
        "session_refund_attributed",
        "rule_history_recorded",
        "rule_history_asked",
        "rule_history_answered",
        "ad_conversion",
        "ad_order_flagged",
        "ad_click_judged",
        "ad_click_at_ip",
    }
)
