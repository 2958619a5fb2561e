"""Which case an alert belongs to: one incident, one case.

A pure function of the alert (``group_of``), so the rule is testable without a database:

* a ``ring`` alert groups by ring id, and joins any open ring case that already holds one
  of its accounts (a ring that grew or merged keeps its case);
* an ``agent`` alert, or a ``session`` alert naming its agent, groups by the agent's plain
  id (an ``agent_refunds`` subject is ``ag-10@2026-06-11T00:00Z``, one per window: every
  window's alert joins the agent's one case; insider cases stay apart from the rings an
  agent may serve);
* a refund, order or account alert groups by its customer, and joins the open ring case
  that holds that customer's account if there is one;
* anything else (no customer, no agent) opens a case of its own subject.

Before its own group, an alert joins the open case that already covers one of its refunds
(``refund_lookup``): a takeover's session alert and the refund alerts about the same
refunds are one incident, whichever came first. A ring alert does not: the ring is the
incident, and its case takes its members' later alerts (``ring_lookup``). Every refund an
alert covers is a member of its case (``refund:rf-...``), which is what that lookup and the
related cases read; so are the account, agent, order and session an alert names, which is
what a search by id finds.
"""

from __future__ import annotations

from dataclasses import dataclass

from vigil.detectors.base import Alert, refunds_of

__all__ = ["Group", "group_of"]


@dataclass(frozen=True, slots=True)
class Group:
    group_type: str
    group_key: str
    #: entities the case is about, recorded with it (``account:c1``, ``agent:a2``, ...)
    members: tuple[str, ...]
    #: entities whose open *ring* case this alert joins in preference to its own group
    ring_lookup: tuple[str, ...] = ()
    #: the refunds it covers (``refund:rf-...``): it joins the open case that holds one of
    #: them before its own group (one incident, one case)
    refund_lookup: tuple[str, ...] = ()

    @property
    def title(self) -> str:
        accounts = sum(1 for m in self.members if m.startswith("account:"))
        if self.group_type == "ring":
            return f"ring {self.group_key}: {accounts} account{'s' * (accounts != 1)}"
        return f"{self.group_type} {self.group_key}"


def group_of(alert: Alert) -> Group:
    """The group (case key) of one alert; see the module docstring for the rule."""
    group = _own_group(alert)
    refunds = tuple(f"refund:{rid}" for rid in refunds_of(alert))
    named = [
        f"{kind}:{value}"
        for kind, value in (
            ("account", alert.customer_id),
            ("agent", alert.agent_id),
            ("order", alert.order_id),
            ("session", alert.session_id),
        )
        if value
    ]
    if alert.subject_type == "ring":  # searched by its id, with or without the "#3" suffix
        named = [f"ring:{alert.subject_id.split('#', 1)[0]}", *named]
    members = tuple(dict.fromkeys((*group.members, *refunds, *named)))
    # a ring is the incident: it opens (or keeps) its own case rather than joining the case
    # of one member's refund; that customer's case and the ring's are related cases
    lookup = () if group.group_type == "ring" else refunds
    return Group(group.group_type, group.group_key, members, group.ring_lookup, lookup)


def _own_group(alert: Alert) -> Group:
    kind, subject = alert.subject_type, alert.subject_id
    if kind == "ring":
        members = alert.members or (f"ring:{subject}",)
        accounts = tuple(m for m in members if m.startswith("account:"))
        return Group("ring", subject, tuple(members), ring_lookup=accounts)
    if kind == "agent":
        agent = alert.agent_id or subject
        return Group("agent", agent, (f"agent:{agent}",))
    if kind == "session" and alert.agent_id:
        return Group("agent", alert.agent_id, (f"agent:{alert.agent_id}",))
    customer = alert.customer_id or (subject if kind == "account" else None)
    if customer:
        account = f"account:{customer}"
        return Group("customer", customer, (account,), ring_lookup=(account,))
    if alert.agent_id:
        return Group("agent", alert.agent_id, (f"agent:{alert.agent_id}",))
    return Group(kind, subject, (f"{kind}:{subject}",))
