"""Which case an alert belongs to: its ring, else its agent, else its customer.

A pure function of the alert (``group_of``), so the rule is testable without a database:

* a ``ring`` alert groups by ring id, and joins any open ring case that already holds one
  of its accounts (a ring that grew or merged keeps its case);
* an ``agent`` alert, or a ``session`` alert naming its agent, groups by agent (insider
  cases stay apart from the rings an agent may serve);
* a refund, order or account alert groups by its customer, and joins the open ring case
  that holds that customer's account if there is one;
* anything else (no customer, no agent) opens a case of its own subject.
"""

from __future__ import annotations

from dataclasses import dataclass

from vigil.detectors.base import Alert

__all__ = ["Group", "group_of"]


@dataclass(frozen=True, slots=True)
class Group:
    group_type: str
    group_key: str
    #: entities the case is about, recorded with it (``account:c1``, ``agent:a2``, ...)
    members: tuple[str, ...]
    #: entities whose open *ring* case this alert joins in preference to its own group
    ring_lookup: tuple[str, ...] = ()

    @property
    def title(self) -> str:
        accounts = sum(1 for m in self.members if m.startswith("account:"))
        if self.group_type == "ring":
            return f"ring {self.group_key}: {accounts} account{'s' * (accounts != 1)}"
        return f"{self.group_type} {self.group_key}"


def group_of(alert: Alert) -> Group:
    """The group (case key) of one alert; see the module docstring for the rule."""
    kind, subject = alert.subject_type, alert.subject_id
    if kind == "ring":
        members = alert.members or (f"ring:{subject}",)
        accounts = tuple(m for m in members if m.startswith("account:"))
        return Group("ring", subject, tuple(members), ring_lookup=accounts)
    if kind == "agent":
        return Group("agent", subject, (f"agent:{subject}",))
    if kind == "session" and alert.agent_id:
        return Group("agent", alert.agent_id, (f"agent:{alert.agent_id}",))
    customer = alert.customer_id or (subject if kind == "account" else None)
    if customer:
        account = f"account:{customer}"
        return Group("customer", customer, (account,), ring_lookup=(account,))
    if alert.agent_id:
        return Group("agent", alert.agent_id, (f"agent:{alert.agent_id}",))
    return Group(kind, subject, (f"{kind}:{subject}",))
