"""Who may do what: one permission matrix for roles (people) and scopes (machines).

``MATRIX`` is the whole policy, in one table: for each action, the roles that may do it
and the API-key scope that grants it. Nothing else in Vigil decides permissions;
``require`` and ``allowed`` read this table, and the tests walk it cell by cell.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal, get_args

from vigil.errors import ForbiddenError

__all__ = [
    "ACTIONS",
    "MATRIX",
    "ROLES",
    "SCOPES",
    "STAFF_ROLES",
    "Action",
    "Grant",
    "Principal",
    "Role",
    "Scope",
    "allowed",
    "require",
]

#: ``advertiser``: a person at an advertiser, in the console's campaign page only (their own
#: campaigns, ``advertiser_id``); every other action is refused them
Role = Literal["analyst", "lead", "admin", "advertiser"]
#: the retailer's own people
STAFF_ROLES: Final[frozenset[str]] = frozenset({"analyst", "lead", "admin"})
Scope = Literal[
    "events:write",
    "decisions:read",
    "alerts:read",
    "cases:read",
    "cases:write",
    "rules:read",
    "rules:write",
    "holds:read",
    "holds:write",
    "ads:read",
]
Action = Literal[
    "events:write",  # POST events into the pipeline
    "decisions:read",  # ask for a refund decision
    "alerts:read",
    "cases:read",  # the queue, a case, its alerts, notes and history
    "cases:write",  # ingest alerts, take a case, move it, add notes, label it
    "cases:assign_any",  # assign a case to someone else, or take it from them
    "cases:reopen",  # move a resolved case back to investigating
    "rules:read",
    "changes:propose",  # ask for a rule or threshold change
    "changes:approve",  # approve or reject someone else's change (four eyes)
    "audit:read",
    "users:manage",
    "keys:manage",
    "holds:read",  # the held refunds: queue, one hold, a decision's hold
    "holds:write",  # release or block a held refund (never one's own: ``cases.holds``)
    "holds:release_denied",  # release a refund the decision denied (a person, lead or admin)
    "ads:read",  # campaign figures (a key bound to an advertiser: that advertiser's only)
]
ROLES: Final[tuple[Role, ...]] = get_args(Role)
SCOPES: Final[tuple[Scope, ...]] = get_args(Scope)
ACTIONS: Final[tuple[Action, ...]] = get_args(Action)


@dataclass(frozen=True, slots=True)
class Grant:
    roles: frozenset[Role]
    #: the API-key scope that grants the action (None: people only)
    scope: Scope | None


def _g(roles: str, scope: Scope | None) -> Grant:
    return Grant(frozenset(roles.split()), scope)  # type: ignore[arg-type]


# fmt: off
MATRIX: Final[dict[Action, Grant]] = {
    #  action                    roles that may          scope that may
    "events:write":           _g("",                     "events:write"),
    "decisions:read":         _g("analyst lead admin",   "decisions:read"),
    "alerts:read":            _g("analyst lead admin",   "alerts:read"),
    "cases:read":             _g("analyst lead admin",   "cases:read"),
    "cases:write":            _g("analyst lead admin",   "cases:write"),
    "cases:assign_any":       _g("lead admin",           None),
    "cases:reopen":           _g("lead admin",           None),
    "rules:read":             _g("analyst lead admin",   "rules:read"),
    "changes:propose":        _g("analyst lead admin",   "rules:write"),
    "changes:approve":        _g("lead admin",           None),
    "audit:read":             _g("lead admin",           None),
    "users:manage":           _g("admin",                None),
    "keys:manage":            _g("admin",                None),
    "holds:read":             _g("analyst lead admin",   "holds:read"),
    "holds:write":            _g("analyst lead admin",   "holds:write"),
    "holds:release_denied":   _g("lead admin",           None),
    "ads:read":               _g("analyst lead admin advertiser", "ads:read"),
}
# fmt: on


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is acting: a person (``user``) with a role, or a machine (``key``) with scopes.

    ``agent_id`` is the retailer's support-agent id this person or key acts as, if any
    (``vigil users add --agent-id``): nobody reviews a refund issued under their own agent
    id (``vigil.cases.holds``). ``advertiser_id``: a key an advertiser holds (``vigil keys
    create --advertiser-id``), or a person at an advertiser (role ``advertiser``); either reads
    that advertiser's campaign figures and nothing else.
    """

    kind: Literal["user", "key", "system"]
    id: int
    name: str
    role: Role | None = None
    scopes: frozenset[Scope] = frozenset()
    agent_id: str | None = None
    advertiser_id: str | None = None

    @property
    def actor(self) -> str:
        """How the audit log names this principal: ``user:alice``, ``key:k3f9...``."""
        return f"{self.kind}:{self.name}"

    @classmethod
    def system(cls, name: str = "vigil") -> Principal:
        """The operator at the command line (``vigil users add``): every action allowed."""
        return cls(kind="system", id=0, name=name)


def allowed(principal: Principal, action: Action) -> bool:
    """Whether the matrix lets ``principal`` do ``action``."""
    grant = MATRIX[action]
    if principal.kind == "system":
        return True
    if principal.kind == "user":
        return principal.role in grant.roles
    return grant.scope is not None and grant.scope in principal.scopes


def require(principal: Principal, action: Action) -> None:
    """Raise ``ForbiddenError`` (403) unless the matrix lets ``principal`` do ``action``."""
    if allowed(principal, action):
        return
    grant = MATRIX[action]
    if principal.kind == "user":
        who = f"{principal.actor} (role {principal.role})"
        needs = f"role {' or '.join(r for r in ROLES if r in grant.roles) or 'none'}"
    else:
        who = f"{principal.actor} (scopes {' '.join(sorted(principal.scopes)) or 'none'})"
        needs = f"scope {grant.scope}" if grant.scope else "a person, not an API key"
    raise ForbiddenError(f"{who} may not {action}: it needs {needs}")
