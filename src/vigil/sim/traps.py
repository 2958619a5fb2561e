"""Traps: legitimate behaviour that looks suspicious, labelled so false alarms can be counted.

Why labelled: a detector that flags every laptop return, every busy escalations agent, every
customer abroad, every shared family tablet or the day after a holiday is useless to analysts.
Each trap's subjects get truth records with ``fraud=False`` and the trap's name:

* ``trap_high_value_return``: legitimate returns with a high-value item; they arrive intact.
* ``trap_escalation_agent``: escalations agents issue many manual overrides; the parcels arrive.
* ``trap_traveller``: customers who log in and order from abroad during a trip, and agent sessions
  worked from abroad (in shift, usual device, MFA on).
* ``trap_family_device``: 3-5 customers sharing one device, one address and one home IP.
* ``trap_holiday_spike``: one day with ~3x the orders and the returns.
* ``trap_shared_infrastructure``: customers who ship to the same carrier depot / pickup point,
  share a mobile carrier's CGNAT address, or shop from one office network: unrelated people
  linked by an address or an IP (graph super-nodes).
* ``trap_lost_parcel`` and ``trap_new_device_agent``: see :mod:`vigil.sim.agent_traps`.
* ``trap_lost_return_parcel``: an honest return parcel the carrier lost (first scan, maybe an
  in-transit scan, then nothing), refunded on first scan or by an agent once the customer
  complains; see :mod:`vigil.sim.orders`. It wins over every other trap of the refund.

A refund belongs to one scenario; for legitimate ones the most specific trap wins, in the order
of :func:`legit_scenario`.
"""

from __future__ import annotations

from collections.abc import Sequence

from vigil.sim.agents import Session
from vigil.sim.context import Ctx
from vigil.sim.world import TAG_FAMILY, TAG_SERIAL, TAG_SHARED, TAG_TRAVELLER, Profile

HIGH_VALUE = "trap_high_value_return"
ESCALATION = "trap_escalation_agent"
TRAVELLER = "trap_traveller"
FAMILY = "trap_family_device"
HOLIDAY = "trap_holiday_spike"
SHARED = "trap_shared_infrastructure"
LOST_RETURN = "trap_lost_return_parcel"
SERIAL = "serial_returner"


def legit_scenario(
    p: Profile,
    *,
    hv: bool,
    holiday: bool,
    escalation: bool = False,
) -> tuple[str | None, bool]:
    """(scenario, fraud) for a refund that no fraud scenario produced."""
    if p.tag == TAG_SERIAL:
        return SERIAL, True
    if escalation:
        return ESCALATION, False
    if p.tag == TAG_TRAVELLER:
        return TRAVELLER, False
    if p.tag == TAG_FAMILY:
        return FAMILY, False
    if p.tag == TAG_SHARED:
        return SHARED, False
    if holiday:
        return HOLIDAY, False
    if hv:
        return HIGH_VALUE, False
    return None, False


def record_subjects(
    ctx: Ctx, travel_sessions: Sequence[Session], trap_sessions: Sequence[Session] = ()
) -> None:
    """Truth records for trap accounts, agents and sessions (refunds are recorded as issued),
    and for serial returners' accounts."""
    world = ctx.world
    for i in world.serial:
        ctx.truth(
            "account",
            world.customer_id(i),
            fraud=True,
            scenario=SERIAL,
            customer_id=world.customer_id(i),
        )
    for i in world.travellers:
        ctx.truth(
            "account",
            world.customer_id(i),
            fraud=False,
            scenario=TRAVELLER,
            customer_id=world.customer_id(i),
        )
    for members in world.families:
        for i in members:
            cid = world.customer_id(i)
            ctx.truth("account", cid, fraud=False, scenario=FAMILY, customer_id=cid)
    for i in world.shared:
        cid = world.customer_id(i)
        ctx.truth("account", cid, fraud=False, scenario=SHARED, customer_id=cid)
    for agent in ctx.roster.escalations:
        ctx.truth(
            "agent", agent.agent_id, fraud=False, scenario=ESCALATION, agent_id=agent.agent_id
        )
    for s in travel_sessions:
        ctx.truth(
            "session", s.session_id, fraud=False, scenario=TRAVELLER, agent_id=s.agent.agent_id
        )
    for s in trap_sessions:
        ctx.truth("session", s.session_id, fraud=False, scenario=s.trap, agent_id=s.agent.agent_id)
