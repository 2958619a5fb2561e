"""Typed, versioned schemas for every event Vigil consumes.

One msgspec ``Struct`` per event type, tagged by the JSON field ``type`` so a single
decoder validates a whole mixed stream at C speed. Conventions:

* ``event_id`` is unique per event; producers are at-least-once, so duplicates happen.
* ``event_time_ms`` is when it happened (epoch milliseconds, UTC), not when it arrived.
* Money is integer cents (``*_cents``) in the retailer's settlement currency.
* ``v`` is the schema version of the record; version 1 is the only one so far.
* Personal data needed only for linking (addresses, emails, payment instruments) travels
  as salted hashes (``*_hash``, ``payment_fingerprint``), never in clear.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

SCHEMA_VERSION = 1

#: every integer must fit a signed 64-bit column (DuckDB BIGINT, Arrow int64, Spark LongType)
INT64_MAX = 2**63 - 1
NonNegInt = Annotated[int, msgspec.Meta(ge=0, le=INT64_MAX)]
Id = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
Country = Annotated[str, msgspec.Meta(min_length=2, max_length=2)]
#: the longest string any other field may hold (hashes, device ids, addresses, reasons): a
#: record over it is a dead letter naming the field, never a 50 MB value in every sink
MAX_TEXT = 1_024
Text = Annotated[str, msgspec.Meta(max_length=MAX_TEXT)]

ReturnChannel = Literal["self_service", "agent"]
RefundPolicy = Literal["on_receipt", "on_first_scan", "returnless", "manual_override"]
RefundMethod = Literal["original_payment", "store_credit", "gift_card"]
IssuedBy = Literal["system", "agent"]
#: how a refund request reached the refund system: a customer in self-service, an agent in
#: a session of the support tools, or a policy trigger (a first scan, a warehouse receipt)
RequestChannel = Literal["self_service", "agent", "automatic"]
ScanType = Literal["first_scan", "in_transit", "delivered"]
Condition = Literal["intact", "used", "damaged", "empty", "wrong_item"]
AgentActionKind = Literal["view_account", "edit_address", "override_policy", "approve_refund"]
ProfileField = Literal["address", "payment_method", "email", "phone"]
Outcome = Literal["fraud", "legitimate"]


class EventBase(msgspec.Struct, tag_field="type", frozen=True, kw_only=True, gc=False):
    """Fields every event carries.

    ``gc=False``: events never form reference cycles, and keeping them out of the cyclic
    garbage collector's lists matters when millions pass through the hot path.
    """

    event_id: Id
    event_time_ms: NonNegInt
    v: Annotated[int, msgspec.Meta(ge=1, le=INT64_MAX)] = SCHEMA_VERSION


# --- customers -------------------------------------------------------------------------


class CustomerSignup(EventBase, tag="customer_signup", kw_only=True, frozen=True):
    customer_id: Id
    email_hash: Text
    country: Country
    device_id: Text
    ip: Text


class CustomerLogin(EventBase, tag="customer_login", kw_only=True, frozen=True):
    customer_id: Id
    device_id: Text
    ip: Text
    country: Country
    success: bool


class ProfileChanged(EventBase, tag="profile_changed", kw_only=True, frozen=True):
    customer_id: Id
    field: ProfileField
    new_value_hash: Text


# --- orders and deliveries -------------------------------------------------------------


class LineItem(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    sku: Id
    category: Text
    price_cents: NonNegInt
    quantity: Annotated[int, msgspec.Meta(ge=1, le=INT64_MAX)] = 1
    weight_g: NonNegInt


class OrderPlaced(EventBase, tag="order_placed", kw_only=True, frozen=True):
    order_id: Id
    customer_id: Id
    items: Annotated[list[LineItem], msgspec.Meta(min_length=1)]
    total_cents: NonNegInt
    currency: Text = "USD"
    shipping_address_hash: Text
    payment_fingerprint: Text
    device_id: Text
    ip: Text
    country: Country
    ad_click_id: Text | None = None


class ShipmentDelivered(EventBase, tag="shipment_delivered", kw_only=True, frozen=True):
    order_id: Id
    customer_id: Id
    carrier: Text


# --- returns ---------------------------------------------------------------------------


class ReturnRequested(EventBase, tag="return_requested", kw_only=True, frozen=True):
    return_id: Id
    order_id: Id
    customer_id: Id
    skus: list[str]
    reason: Text
    channel: ReturnChannel
    agent_id: Text | None = None


class ReturnLabelCreated(EventBase, tag="return_label_created", kw_only=True, frozen=True):
    """A return label was made. ``destination_*`` is where the label sends the parcel: one of
    the retailer's return centres for an honest label (``vigil run --return-centres``)."""

    return_id: Id
    order_id: Id
    carrier: Text
    tracking_id: Text
    destination_id: Text | None = None
    destination_postal_code: Text | None = None
    destination_country: Country | None = None


class CarrierScan(EventBase, tag="carrier_scan", kw_only=True, frozen=True):
    """A carrier scanned the return parcel; ``weight_g`` is what the parcel weighed.

    ``facility_id`` and ``postal_code`` say where the scan happened;
    ``destination_postal_code`` is the destination the carrier read off the label."""

    return_id: Id
    order_id: Id
    tracking_id: Text
    scan_type: ScanType
    weight_g: NonNegInt
    location_country: Country
    facility_id: Text | None = None
    postal_code: Text | None = None
    destination_postal_code: Text | None = None


class ReturnReceived(EventBase, tag="return_received", kw_only=True, frozen=True):
    """A warehouse received and inspected the return parcel."""

    return_id: Id
    order_id: Id
    warehouse_id: Text
    items_matched: bool
    weight_g: NonNegInt
    condition: Condition


# --- refunds ---------------------------------------------------------------------------


class RefundRequested(EventBase, tag="refund_requested", kw_only=True, frozen=True):
    """A refund was asked for: the moment to decide, before any money leaves.

    ``refund_id`` is the id the refund will carry when it is issued; ``skus`` the items it
    pays back (empty: the whole order or a goodwill amount); ``issued_by`` who would issue
    it (the system, or the agent of ``session_id``)."""

    refund_id: Id
    order_id: Id
    customer_id: Id
    return_id: Text | None = None
    amount_cents: NonNegInt
    currency: Text = "USD"
    skus: list[str] = []
    reason: Text | None = None
    channel: RequestChannel
    method: RefundMethod = "original_payment"
    policy: RefundPolicy
    issued_by: IssuedBy
    agent_id: Text | None = None
    session_id: Text | None = None


class RefundIssued(EventBase, tag="refund_issued", kw_only=True, frozen=True):
    refund_id: Id
    order_id: Id
    customer_id: Id
    return_id: Text | None = None
    amount_cents: NonNegInt
    currency: Text = "USD"
    method: RefundMethod
    issued_by: IssuedBy
    agent_id: Text | None = None
    session_id: Text | None = None
    policy: RefundPolicy


# --- support agents --------------------------------------------------------------------


class AgentRostered(EventBase, tag="agent_rostered", kw_only=True, frozen=True):
    """Roster record (from HR / workforce tools): who the agent is and when they work."""

    agent_id: Id
    team: Text
    home_country: Country
    shift_start_hour: Annotated[int, msgspec.Meta(ge=0, le=23)]
    shift_end_hour: Annotated[int, msgspec.Meta(ge=0, le=23)]


class AgentSessionStarted(EventBase, tag="agent_session_started", kw_only=True, frozen=True):
    session_id: Id
    agent_id: Id
    device_id: Text
    ip: Text
    country: Country
    mfa: bool


class AgentSessionEnded(EventBase, tag="agent_session_ended", kw_only=True, frozen=True):
    session_id: Id
    agent_id: Id


class AgentAction(EventBase, tag="agent_action", kw_only=True, frozen=True):
    session_id: Id
    agent_id: Id
    action: AgentActionKind
    customer_id: Text | None = None
    order_id: Text | None = None


# --- ads -------------------------------------------------------------------------------


class AdImpression(EventBase, tag="ad_impression", kw_only=True, frozen=True):
    impression_id: Id
    campaign_id: Id
    advertiser_id: Id
    platform: Text
    device_id: Text
    cost_micros: NonNegInt
    #: where the impression was served to (optional: older streams have neither)
    ip: Text | None = None
    user_agent: Text | None = None


class AdClick(EventBase, tag="ad_click", kw_only=True, frozen=True):
    click_id: Id
    campaign_id: Id
    advertiser_id: Id
    platform: Text
    device_id: Text
    cost_micros: NonNegInt
    #: where the click came from (optional: older streams have neither)
    ip: Text | None = None
    user_agent: Text | None = None


# --- labels (arrive later) -------------------------------------------------------------


class Chargeback(EventBase, tag="chargeback", kw_only=True, frozen=True):
    order_id: Id
    customer_id: Id
    amount_cents: NonNegInt


class InvestigationOutcome(EventBase, tag="investigation_outcome", kw_only=True, frozen=True):
    subject_type: Literal["refund", "order", "account", "agent", "session"]
    subject_id: Id
    outcome: Outcome


class AnalystDecision(EventBase, tag="analyst_decision", kw_only=True, frozen=True):
    alert_id: Id
    analyst_id: Id
    outcome: Outcome


Event = (
    CustomerSignup
    | CustomerLogin
    | ProfileChanged
    | OrderPlaced
    | ShipmentDelivered
    | ReturnRequested
    | ReturnLabelCreated
    | CarrierScan
    | ReturnReceived
    | RefundRequested
    | RefundIssued
    | AgentRostered
    | AgentSessionStarted
    | AgentSessionEnded
    | AgentAction
    | AdImpression
    | AdClick
    | Chargeback
    | InvestigationOutcome
    | AnalystDecision
)

EVENT_TYPES: tuple[type[EventBase], ...] = (
    CustomerSignup,
    CustomerLogin,
    ProfileChanged,
    OrderPlaced,
    ShipmentDelivered,
    ReturnRequested,
    ReturnLabelCreated,
    CarrierScan,
    ReturnReceived,
    RefundRequested,
    RefundIssued,
    AgentRostered,
    AgentSessionStarted,
    AgentSessionEnded,
    AgentAction,
    AdImpression,
    AdClick,
    Chargeback,
    InvestigationOutcome,
    AnalystDecision,
)


def type_name(cls: type[EventBase]) -> str:
    """The wire name (``type`` field) of an event class."""
    tag = cls.__struct_config__.tag
    assert isinstance(tag, str)
    return tag
