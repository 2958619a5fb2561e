"""Ground-truth records (``truth.jsonl``) written by the simulator and read by evaluation.

One record per refund (fraud or not, so evaluation knows the denominator) and one per
fraudulent order, account, agent and session; with invalid ad traffic switched on
(``SimConfig.ivt_share``), one per invalid ad click and impression (kinds ``ad_click`` and
``ad_impression``, ``scenario`` from ``IVT_SCENARIOS``; a valid ad event has no record).
``scenario`` names the fraud scenario (``SCENARIOS``) or the trap (``TRAPS``) that produced
the subject; ``None`` for plain legitimate activity.
"""

from __future__ import annotations

from typing import Literal

import msgspec

SubjectKind = Literal["refund", "order", "account", "agent", "session", "ad_click", "ad_impression"]

#: Fraud scenarios of the brief. 1-4 form the headline figure; 5 is scored separately.
SCENARIOS: dict[str, str] = {
    "insider_refund": "1. refund without return via a bribed insider",
    "agent_takeover": "2. unauthorized access to internal tools",
    "empty_box": "3. empty box / swapped item",
    "ring": "4. account farm / ring",
    "serial_returner": "5. serial returner / wardrobing (policy abuse)",
}
HEADLINE_SCENARIOS = frozenset({"insider_refund", "agent_takeover", "empty_box", "ring"})

#: Legitimate behaviour that looks suspicious; alerts on these are false positives.
TRAPS: dict[str, str] = {
    "trap_high_value_return": "legitimate high-value return that arrives intact",
    "trap_escalation_agent": "agent who handles many escalations legitimately",
    "trap_traveller": "customer or agent travelling abroad",
    "trap_family_device": "family sharing one device",
    "trap_holiday_spike": "holiday spike of refunds",
    "trap_lost_parcel": "high-value item-not-received refund of a parcel the carrier lost",
    "trap_lost_return_parcel": (
        "refund of a return parcel the carrier lost (scanned, then never delivered or received)"
    ),
    "trap_porch_theft": "item-not-received refund of a parcel reported delivered but stolen",
    "trap_new_device_agent": "agent on a new laptop, overtime, or during an MFA outage",
    "trap_shared_infrastructure": (
        "unrelated customers sharing a pickup point, a mobile carrier's CGNAT IP or an office"
        " network"
    ),
}

#: Invalid ad traffic (kinds ``ad_click`` / ``ad_impression``): what produced the event.
IVT_SCENARIOS: dict[str, str] = {
    "bot_ua": "declared crawler or bot (its user agent says so)",
    "datacenter": "browser user agent from a data-centre (cloud hosting) IP",
    "click_farm": "device farm: many devices on few IPs clicking campaigns in bursts",
    "click_burst": "one device or IP clicking the same campaign many times within minutes",
    "no_impression": "click with no impression of the campaign on that device before it",
    "click_injection": "click a moment before an order by the same device (attribution theft)",
}


class TruthRecord(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    kind: SubjectKind
    id: str
    fraud: bool
    scenario: str | None = None
    amount_cents: int = 0
    #: for refunds: the customer, agent and session involved (helps per-entity reports)
    customer_id: str | None = None
    agent_id: str | None = None
    order_id: str | None = None
    #: for ad events: the campaign, its advertiser and what the event cost the advertiser
    campaign_id: str | None = None
    advertiser_id: str | None = None
    cost_micros: int = 0


truth_decoder = msgspec.json.Decoder(TruthRecord)
truth_encoder = msgspec.json.Encoder()
