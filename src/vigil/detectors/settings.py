"""Parameters of the built-in detectors: one frozen dataclass per detector, one root.

Every default is documented next to the field, with its unit in the name. Settings are
built once at the entry point (``DetectorSettings()`` or a tuned copy via
``dataclasses.replace``) and passed down to ``default_detectors``; detectors never read
configuration from anywhere else.

Score weights are logit contributions: a detector adds them up and squashes the sum with
the logistic function, so ``+1`` multiplies the odds by e. Defaults were tuned on the
simulator's seed 1 only (``SimConfig(seed=1, events=1_000_000)``); seeds 2, 3 and 7 are
held out for reporting and must never be used to tune.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import msgspec

from vigil.detectors.return_centres import DEFAULT_RETURN_CENTRES, ReturnCentre

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


@dataclass(frozen=True)
class RefundWithoutReturnSettings:
    """``refund_without_return``: a refund with no scan and no receipt within a wait."""

    #: how long after a refund a carrier scan or a warehouse receipt may still arrive
    #: (event time); a scan whose event time is later than this does not count
    wait_ms: int = 7 * DAY_MS
    #: refunds below this amount are never alerted (they still teach the baseline)
    min_amount_cents: int = 2_000
    #: signals scoring below this are not emitted at all (keeps alerts.jsonl readable)
    min_emit_score: float = 0.2
    #: prior typical amount of an agent-issued refund without return (until learned)
    prior_agent_typical_cents: int = 2_000
    #: prior typical amount of a system-issued refund without return (until learned)
    prior_system_typical_cents: int = 1_500
    #: prior spread (standard deviation) of ln(amount), until learned
    prior_log_sd: float = 0.8
    #: observations an issuer's baseline needs before it replaces the prior
    baseline_min_weight: float = 50.0
    #: the learned baselines forget old refunds with this factor per day
    baseline_decay_per_day: float = 0.99
    #: logit bias of every refund without a return (of an established account; see
    #: ``young_account_weight``)
    bias: float = -12.5
    #: logit added per robust standard deviation of ln(amount) above the typical refund
    #: without return of the same issuer (agent or system)
    money_weight: float = 2.5
    #: the money term counts at most this many robust standard deviations (so a dear lost
    #: parcel, never delivered, cannot outweigh the missing delivery on amount alone)
    max_money_z: float = 4.0
    #: logit added when the refund is a manual override
    manual_override_weight: float = 1.0
    #: logit added when an agent (not the system) issued the refund
    agent_issued_weight: float = 1.0
    #: logit added when the order was never reported delivered by the deadline (an
    #: item-not-received claim on a parcel the carrier really lost is a common legitimate
    #: refund, also for laptops; fraudulent INR claims come on delivered orders)
    undelivered_weight: float = -6.0
    #: an account that signed up at most this long before the refund is young
    young_account_ms: int = 45 * DAY_MS
    #: logit added for a young account: accounts made for the job are the usual vehicle of
    #: refund fraud, while an honest "item not received" on a delivered parcel (porch theft,
    #: wrong door) comes from an established customer. An established customer's first such
    #: refund, however dear, stays under 0.5 on this detector alone: the agent's pattern
    #: (``repeat_customer_weight`` here, ``agent_refunds``) has to add to it
    young_account_weight: float = 4.0
    #: how far back an earlier refund by the same agent to the same customer counts (at
    #: most ``retention_ms``: state is swept after that)
    repeat_window_ms: int = 60 * DAY_MS
    #: logit added when the same agent refunded the same customer before within
    #: ``repeat_window_ms``: a corrupt agent serves a few clients again and again, while an
    #: ordinary agent rarely meets the same customer twice
    repeat_customer_weight: float = 2.5
    #: logit added when the return parcel was scanned by the carrier, never reported
    #: delivered and never received within its route's normal transit time: carriers lose
    #: a fraction of a percent of return parcels, and that is what one looks like (an
    #: honest refund, like an outbound parcel lost, ``undelivered_weight``). A parcel the
    #: carrier reports delivered and the centre never received gets no such discount.
    lost_in_transit_weight: float = -6.0
    #: a scanned return parcel counts as on its way until its route's normal transit time
    #: (first scan -> receipt) has passed: this quantile of the times of the route's
    #: received parcels (learned online per origin country and destination postal code,
    #: decayed by 1 % a day) ...
    transit_quantile: float = 0.99
    #: ... times 1 + this margin (a parcel a little slower than any seen is not yet lost) ...
    transit_margin: float = 0.25
    #: ... or this prior until the route has ``transit_min_parcels`` received parcels
    transit_prior_ms: int = 10 * DAY_MS
    transit_min_parcels: float = 20.0
    #: how long order facts (delivery, scans) are kept after the last activity on the order
    retention_ms: int = 60 * DAY_MS


@dataclass(frozen=True)
class SerialReturnerSettings:
    """``serial_returner``: customers who return most orders, worn (scored, not blocked)."""

    #: how far back orders, returns and refunds count (event time)
    window_ms: int = 60 * DAY_MS
    #: returned orders needed before a customer is judged (an ordinary customer returns
    #: about one order in eight)
    min_returned_orders: int = 3
    #: returns that arrived used or damaged needed before a customer is judged (an honest
    #: return is used about one time in eight)
    min_worn_returns: int = 2
    #: logit bias
    bias: float = -4.0
    #: logit per unit of return rate (returned orders / orders in the window)
    return_rate_weight: float = 4.0
    #: logit per worn return, counted up to ``max_worn``
    worn_weight: float = 0.5
    max_worn: int = 8
    #: signals below this are not emitted
    min_emit_score: float = 0.2


@dataclass(frozen=True)
class EmptyBoxSettings:
    """``empty_box``: refund before inspection, then a receipt that does not match the order,
    or a parcel scanned and never received that shows a fake tracking id (FTID)."""

    #: the retailer's return centres (``vigil run --return-centres FILE``): an honest label
    #: goes to one of them and the carrier hands the parcel over at its postal code
    return_centres: tuple[ReturnCentre, ...] = DEFAULT_RETURN_CENTRES
    #: receipt weight / expected parcel weight below this is a weight mismatch
    receipt_weight_ratio: float = 0.5
    #: first-scan weight / expected parcel weight below this is suspicious (FTID variant)
    ftid_weight_ratio: float = 0.4
    #: after the first scan, a receipt may take the route's normal transit time: this
    #: quantile of the first scan -> receipt times of the route's received parcels (learned
    #: online per origin country and destination postal code, decayed by 1 % a day) ...
    transit_quantile: float = 0.99
    #: ... times 1 + this margin ...
    transit_margin: float = 0.25
    #: ... or this prior until the route has ``transit_min_parcels`` received parcels
    transit_prior_ms: int = 10 * DAY_MS
    transit_min_parcels: float = 20.0
    #: receipts with these conditions are mismatches even when items are reported matched
    mismatch_conditions: tuple[str, ...] = ("empty", "wrong_item")
    #: refunds below this amount are never alerted
    min_amount_cents: int = 2_000
    #: logit bias for a refund whose receipt mismatches
    mismatch_bias: float = 1.5
    #: logit added when the receipt says the items did not match
    items_mismatch_weight: float = 1.0
    #: logit added when the receipt weight is far below the expected weight
    weight_mismatch_weight: float = 1.0
    #: logit bias for the FTID variant (suspicious first scan, never received)
    ftid_bias: float = 0.5
    #: logit added when a scan happened in a country that is neither the order's nor its
    #: return centre's
    foreign_scan_weight: float = 1.0
    #: logit added when the label is not addressed to a return centre, or the carrier read
    #: another destination off the parcel than its centre's postal code
    label_elsewhere_weight: float = 2.0
    #: logit added when the carrier reported the parcel delivered at another postal code than
    #: its centre's, or scanned it somewhere else after it had reached the centre's
    away_from_centre_weight: float = 2.0
    #: logit added when the carrier reported the parcel delivered at its centre's postal code
    #: and the centre never received it (carriers lose parcels in transit, far more rarely
    #: between the last scan and the dock)
    delivered_not_received_weight: float = 1.5
    #: logit added per doubling of the refund amount over ``money_ref_cents``
    money_weight: float = 0.5
    #: reference amount for the money term
    money_ref_cents: int = 10_000
    #: logit added when the refund was issued on first scan (money left before inspection)
    first_scan_policy_weight: float = 0.5
    #: how long return and order facts are kept after the last activity on them
    retention_ms: int = 60 * DAY_MS


@dataclass(frozen=True)
class AgentRefundsSettings:
    """``agent_refunds``: an agent's unreturned manual refund money against team peers."""

    #: size of the tumbling window the peer comparison runs over
    window_ms: int = 7 * DAY_MS
    #: how long after a refund its parcel may still be scanned or received; the window is
    #: judged this long after it closes, counting only refunds with no return by then
    return_grace_ms: int = 7 * DAY_MS
    #: policies counted as manual when an agent issues them
    manual_policies: tuple[str, ...] = ("manual_override", "returnless")
    #: each judgement looks at the agent's unreturned manual refunds of this long (the
    #: judged window and the ones before it): a corrupt agent who refunds a client a week
    #: adds up, where one window alone would show a single refund
    history_ms: int = 28 * DAY_MS
    #: an agent with less unreturned manual refund money than this over ``history_ms`` is
    #: never alerted
    min_unreturned_cents: int = 50_000
    #: nor one with fewer unreturned manual refunds of at least ``listed_refund_min_cents``
    #: than this over ``history_ms``: a single dear "item not received" refund of a parcel
    #: reported delivered (porch theft, wrong door) among small goodwill gestures is
    #: something every agent meets; several dear ones are a pattern
    min_unreturned_refunds: int = 3
    #: list as "at risk" only the refunds that fit a corrupt agent's pattern: to a young
    #: account (signed up at most ``young_account_ms`` before the refund) or to a customer
    #: this agent refunded more than once in the history. The agent's other unreturned
    #: refunds still count in the score and are named in the explanation, but an honest
    #: "not received" refund to an established customer is not put at risk by who issued it
    list_pattern_refunds_only: bool = True
    #: ... except a refund this dear: an unreturned manual refund of at least this much by
    #: an agent the peer comparison flags is listed whoever received it. "Not received"
    #: claims of ordinary orders stay below it; an insider's client is refunded a laptop
    #: or a console, often on a long-standing account (docs/detectors.md)
    list_dear_refunds_min_cents: int = 250_000
    young_account_ms: int = 45 * DAY_MS
    #: peers needed (other active agents of the team in the window) for a comparison
    min_peers: int = 3
    #: money floor added to both sides of the agent / peer-median ratio, so that a team
    #: whose agents refund almost nothing does not make a small amount look huge
    ratio_floor_cents: int = 20_000
    #: log2 of the (agent + floor) / (peer median + floor) ratio at which the score is 0.5
    log2_ratio_at_half: float = 2.0
    #: logit slope per doubling of that ratio
    log2_ratio_slope: float = 1.5
    #: only unreturned manual refunds of at least this amount are listed as at risk (just
    #: above the usual $100 goodwill cap, so an agent's routine gestures are not listed)
    listed_refund_min_cents: int = 10_001
    #: signals scoring below this are not emitted
    min_emit_score: float = 0.2
    #: agents without a roster record are compared in this team
    unknown_team: str = "unknown"
    #: how long order facts (scans, receipts) are kept after the last activity on them
    retention_ms: int = 60 * DAY_MS


@dataclass(frozen=True)
class SessionRiskSettings:
    """``session_risk``: a risky internal-tool session followed by refunds in it."""

    #: logit bias of a session
    bias: float = -8.0
    #: logit added when the device is new for the agent (every takeover has one; a travelling
    #: agent keeps the usual laptop)
    new_device_weight: float = 4.0
    #: logit added when the IP is new for the agent
    new_ip_weight: float = 0.75
    #: logit added when the country is new for the agent (and not the home country)
    new_country_weight: float = 1.0
    #: logit added when the session did not use MFA (MFA outages happen; stolen sessions and
    #: MFA fatigue get past it)
    no_mfa_weight: float = 1.5
    #: logit added when the session started outside the agent's shift (overtime happens)
    off_shift_weight: float = 1.0
    #: logit added for impossible travel: the session's country is so far from the country
    #: of the agent's previous trusted session that getting there in the time between them
    #: would beat an airliner. Country centres are coarse and corporate VPNs egress far
    #: away, so it never carries a session alone: with the usual device (even abroad, with a
    #: new IP and country) it stays under ``min_session_score``; it adds to a new device.
    impossible_travel_weight: float = 1.5
    #: travel faster than this between country centres is impossible (an airliner cruises
    #: at about 900 km/h; airports, taxis and queues make real door-to-door speed far lower)
    max_travel_speed_kmh: float = 1_000.0
    #: countries whose centres are closer than this are never impossible travel (nor are
    #: countries sharing a land border, see ``vigil.features.geo.NEIGHBOURS``)
    min_travel_distance_km: float = 800.0
    #: refunds of at least this amount count towards a burst and its money
    burst_min_refund_cents: int = 10_000
    #: ... and, for an agent with at least ``burst_agent_min_refunds`` refunds before the
    #: session, at least ``burst_agent_min_z`` sd above the agent's own typical refund (ln
    #: amount), as it stood when the session started: an escalations agent's ordinary $150
    #: overrides are not a burst for them, a takeover's $2,000 ones are. Measured on the
    #: simulated seeds looked at: 80% of escalation refunds of $100 or more fall below
    #: 0.5 sd, 2 of 34 takeover refunds of agents with such a history do
    burst_agent_min_z: float = 0.5
    #: refunds an agent must have issued before their own typical counts (fewer: the flat
    #: ``burst_min_refund_cents`` alone)
    burst_agent_min_refunds: int = 20
    #: a burst is the session's refunds of at least ``burst_min_refund_cents`` within this
    #: long before (and including) the refund being judged
    burst_window_ms: int = 2 * HOUR_MS
    #: logit added per burst refund beyond the first
    burst_weight: float = 0.8
    #: cap on the burst contribution
    burst_max: float = 4.0
    #: logit added per doubling of the burst's money over ``money_ref_cents``
    money_weight: float = 1.0
    #: reference amount for the money term
    money_ref_cents: int = 30_000
    #: the money term is at most this (a single huge refund is not a burst)
    money_max: float = 4.0
    #: a session needs at least this (pre-refund) risk to be alerted at all: about a new
    #: device with a new IP, or several weaker factors together; no MFA or overtime alone
    #: never qualifies
    min_session_score: float = 0.01
    #: signals scoring below this are not emitted
    min_emit_score: float = 0.3
    #: sessions an agent must have had before device and IP novelty mean anything
    novelty_min_sessions: int = 3
    #: how many known devices / IPs / countries are remembered per agent
    max_known_per_agent: int = 64
    #: shift hours are read in UTC; minutes of slack either side of the shift
    shift_slack_minutes: int = 30
    #: refunds with no session id are attributed to the agent's open session
    attribute_sessionless_refunds: bool = True
    #: a session with no end event is considered over after this long
    max_session_ms: int = 24 * HOUR_MS


@dataclass(frozen=True)
class FraudRingSettings:
    """``fraud_ring``: components of the entity graph with unreturned refund money.

    Linking (see ``vigil.detectors.graph.entity_graph``): an entity shared by ``n`` live
    accounts links them with strength ``<kind>_link_strength / (n - 1)`` (evidence is ranked
    by it), and stops linking at all (becomes a hub) once ``n`` passes its kind's cap.
    """

    #: a link (account touched entity) lives this long after it was last seen (event time);
    #: long enough for a ring's accounts to sign up, order and be refunded (~5 weeks in the
    #: simulator), short enough that a device sold on or an address moved out of fades
    link_ttl_ms: int = 45 * DAY_MS
    #: expired links are dropped and the components that lost one rebuilt this often
    rebuild_every_ms: int = DAY_MS
    #: idle nodes are freed every this many rebuilds (a pass over every node: weekly)
    node_sweep_every_rebuilds: int = 7
    #: most live accounts a device may have and still link them: a family tablet has 3-5;
    #: a shared device with dozens of accounts is itself a ring signal, so the cap is high
    max_accounts_per_device: int = 32
    #: a card or wallet shared by many accounts is as telling as a device
    max_accounts_per_payment: int = 32
    #: a home has a few people; a pickup point, carrier depot or reshipper has many more
    max_accounts_per_address: int = 12
    #: a household NAT has a few accounts; an office network or a mobile carrier's CGNAT
    #: has dozens to thousands
    max_accounts_per_ip: int = 8
    #: an email or phone is personal: more than a couple of accounts on one is odd already
    max_accounts_per_email: int = 4
    max_accounts_per_phone: int = 4
    #: link strength of each kind, divided by (accounts sharing it - 1): ranks evidence
    device_link_strength: float = 1.0
    payment_link_strength: float = 1.0
    address_link_strength: float = 0.7
    ip_link_strength: float = 0.4
    email_link_strength: float = 1.0
    phone_link_strength: float = 1.0
    #: weight of "both accounts were refunded by this agent" evidence (an agent serves
    #: thousands of customers: corroboration, never a link)
    agent_link_weight: float = 0.05
    #: a refund is judged this long after it was issued (event time), once its parcel
    #: could have been scanned; a scan or receipt by then counts as a return
    wait_ms: int = 7 * DAY_MS
    #: components with fewer accounts are not rings
    min_accounts: int = 3
    #: components with more accounts are left alone (something glued them together that
    #: the caps missed; judging them would cost and mislead)
    max_component_accounts: int = 500
    #: an account is young when it signed up at most this long before the judgement (a
    #: refund + ``wait_ms``): a ring's accounts are made for the job; customers who signed
    #: up before the stream began have no sign-up event and count as established
    young_account_ms: int = 45 * DAY_MS
    #: refunds at least this large are listed as at risk (with no return, or still pending)
    listed_refund_min_cents: int = 2_000
    #: logit bias of a component of ``min_accounts``-or-more accounts
    bias: float = -10.0
    #: logit added per doubling of the number of accounts
    accounts_weight: float = 1.0
    #: logit added per country beyond the first (legitimate shared infrastructure is local)
    country_weight: float = 0.8
    #: countries beyond the first counted at most
    max_countries_counted: int = 4
    #: logit added per doubling of (1 + unreturned refund money / ``money_ref_cents``)
    money_weight: float = 1.0
    money_ref_cents: int = 20_000
    #: logit added times the share of judged refunds that came with no return
    unreturned_share_weight: float = 2.0
    #: logit added times the share of refunding accounts served by one agent (when it
    #: served at least two)
    shared_agent_weight: float = 1.5
    #: logit added times the share of accounts that are young
    young_weight: float = 3.0
    #: signals scoring below this are not emitted
    min_emit_score: float = 0.3
    #: an alerted ring alerts again (new id) only when it has grown materially: this share
    #: more accounts (at least one) ...
    growth_share: float = 0.25
    #: ... or at least this much more money at risk. Each alert lists every refund at risk
    #: so far, those still within the wait included, so one alert covers a burst of
    #: refunds; $50 is about the cheapest refund a ring bothers with
    min_growth_cents: int = 5_000
    #: ... or a score this much higher (its refunds' deadlines passed with nothing back)
    min_score_rise: float = 0.2
    #: most evidence links listed per alert (strongest first)
    max_evidence: int = 40


@dataclass(frozen=True)
class RequestRiskSettings:
    """``request_risk``: a refund request judged on its own, from the facts known when it is
    asked (``vigil.features.facts``): what is refunded, by whom, on which order, for which
    customer. No detector of the stream can speak this early; this one is only ever a
    request-time finding (``vigil.decisions.request``)."""

    #: logit bias of a request
    bias: float = -10.0
    #: logit added per standard deviation of ln(amount) above the issuer's typical request
    #: (agent or system, learned from the requests so far), counted from -1 to ``max_money_z``
    money_weight: float = 1.5
    max_money_z: float = 4.0
    #: until this many requests of an issuer were seen, its typical amount is the prior
    baseline_min_requests: int = 50
    prior_agent_typical_cents: int = 3_000
    prior_system_typical_cents: int = 4_000
    prior_log_sd: float = 1.0
    #: logit added for a manual override, and for a returnless refund of at least
    #: ``returnless_min_cents`` (cheap returnless refunds are routine)
    manual_override_weight: float = 1.5
    returnless_weight: float = 1.0
    returnless_min_cents: int = 5_000
    #: logit added when an agent (not the system) would issue it
    agent_issued_weight: float = 1.0
    #: logit added when nothing of a return is in view (no return request with a reason for
    #: a physical return, no label, no scan, no receipt)
    no_parcel_weight: float = 1.5
    #: logit added for "item not received" on an order the carrier reported delivered
    not_received_but_delivered_weight: float = 1.0
    #: logit added when the order was never reported delivered (a lost parcel is an honest,
    #: common reason for a dear refund without return)
    undelivered_weight: float = -4.0
    #: logit added when the return was received, its items matched and not empty, before the
    #: request: the goods are back, so the refund pays for something returned (a dear item
    #: bought by a young account and returned intact is an ordinary return)
    returned_matched_weight: float = -3.0
    #: an account that signed up at most this long before the request is young; logit added
    young_account_ms: int = 45 * DAY_MS
    young_account_weight: float = 3.5
    #: logit added when the order was placed within ``fresh_order_ms`` of the account's
    #: sign-up: an account made for the job buys at once (the strongest signal of the public
    #: e-commerce fraud data set: purchases within minutes of sign-up)
    fresh_order_ms: int = 3 * DAY_MS
    fresh_order_weight: float = 1.5
    #: logit added when the same agent asked for a refund for this customer before within
    #: ``repeat_window_ms``
    repeat_window_ms: int = 60 * DAY_MS
    repeat_customer_weight: float = 2.5
    #: logit added when the request plus the refunds already issued on the order exceed what
    #: it cost (a request that was refused and never paid does not count)
    over_refund_weight: float = 3.0
    #: logit added to an agent's risky request (an override or returnless refund with
    #: nothing sent back, for a young account or at least ``risky_min_z`` sd above the
    #: typical request) when the agent made no other risky request within
    #: ``agent_risky_window_ms`` that is still unreturned: an honest agent meets a dear
    #: "not received" claim on a delivered parcel (porch theft) now and then, an insider
    #: refunds the ring's accounts again and again
    risky_min_z: float = 1.0
    agent_risky_window_ms: int = 30 * DAY_MS
    agent_first_risky_weight: float = -2.5
    #: logit added times the score of the strongest alert about the agent so far
    #: (``agent_refunds``: their unreturned manual refunds against their team's)
    agent_flagged_weight: float = 4.0
    #: an alert about the agent whose refunds were all made in sessions that ``session_risk``
    #: judged at least this likely not to be the agent (a new device, IP or country, travel
    #: no one could make) speaks about whoever took those sessions over, not about the
    #: agent: it is set aside for the agent's other requests (``vigil.decisions.request``).
    #: Above 1: never set aside
    taken_over_flag_min_score: float = 0.5
    #: requests below this amount are never flagged
    min_amount_cents: int = 2_000
    #: findings scoring below this are left out of the decision's reasons
    min_emit_score: float = 0.05


@dataclass(frozen=True)
class LabelSettings:
    """``labelled_fraud``: a person already found the customer, or the agent, to be fraud (a
    blocked hold, a case labelled fraud, an investigation, a chargeback)."""

    #: the score of a request by a customer with more fraud labels than legitimate ones, or
    #: issued by such an agent: held for review whatever its amount (below deny: a person
    #: looks at it)
    score: float = 0.9


@dataclass(frozen=True)
class ParcelCheckSettings:
    """What a return parcel looks like when its refund is requested (``empty_box`` at
    request time): light scans, scans in the wrong place, a label that does not go to a
    return centre."""

    #: first-scan weight / weight of the returned goods below this is a light parcel
    light_scan_ratio: float = 0.5
    #: returned goods lighter than this are not judged by weight (the box dominates)
    min_goods_weight_g: int = 300
    #: logit of a light first scan
    light_scan_logit: float = 2.0
    #: logit of a scan in a country that is neither the order's nor the return centre's
    foreign_scan_logit: float = 1.5
    #: logit of a label addressed to somewhere that is not a known return centre
    label_elsewhere_logit: float = 3.0
    #: logit of a parcel the carrier reported delivered at a postal code other than its
    #: return centre's, or scanned again away from it after reaching it
    away_from_centre_logit: float = 3.0
    #: a parcel the carrier reported delivered at its centre, which the centre has not logged
    #: as received this long after (a centre logs a delivery within hours), and its logit
    centre_receipt_grace_ms: int = 2 * DAY_MS
    delivered_not_received_logit: float = 3.0
    #: logit added per doubling of the amount over ``money_ref_cents``
    money_weight: float = 0.5
    money_ref_cents: int = 10_000
    #: requests below this amount are never flagged
    min_amount_cents: int = 2_000


@dataclass(frozen=True)
class DetectorSettings:
    """All built-in detector settings; build once at the entry point and pass down."""

    refund_without_return: RefundWithoutReturnSettings = field(
        default_factory=RefundWithoutReturnSettings
    )
    empty_box: EmptyBoxSettings = field(default_factory=EmptyBoxSettings)
    agent_refunds: AgentRefundsSettings = field(default_factory=AgentRefundsSettings)
    session_risk: SessionRiskSettings = field(default_factory=SessionRiskSettings)
    fraud_ring: FraudRingSettings = field(default_factory=FraudRingSettings)
    serial_returner: SerialReturnerSettings = field(default_factory=SerialReturnerSettings)
    request_risk: RequestRiskSettings = field(default_factory=RequestRiskSettings)
    parcel_check: ParcelCheckSettings = field(default_factory=ParcelCheckSettings)
    labels: LabelSettings = field(default_factory=LabelSettings)

    def fingerprint(self) -> str:
        """A stable string of every setting (for checkpoint and backtest metadata)."""
        return msgspec.json.encode(asdict(self)).decode()
