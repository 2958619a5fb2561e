"""Security: who may do what, proven and recorded (issue 5, part 3).

Vigil defends against the very insider problem it detects, so every action on cases,
users, keys and rules is authorised against one permission matrix, written to an
append-only audit log in the same transaction, and rule or threshold changes need a
second person (four eyes). Personal data needed only for linking is kept as salted
hashes. See docs/security.md; the case side is ``vigil.cases`` (docs/cases.md).

Contract for the API and the console (all functions take a SQLAlchemy ``Session`` that
the caller owns: the service functions ``flush`` but never ``commit``; use
``Database.transaction()`` so the action and its audit row commit or roll back together)::

    from vigil.security import Database, Principal, require
    from vigil.security import authenticate_api_key, authenticate_password

    db = Database.open("sqlite:///vigil.db")        # or postgresql+psycopg://...
    #  a fresh SQLite file is migrated on first use; anything else must be at head
    #  (else ConfigError: "run vigil db upgrade --url ...")
    with db.transaction() as session:               # commit on success, rollback on error
        principal = authenticate_api_key(session, raw_key)        # -> Principal, 401 if bad
        principal = authenticate_password(session, username, pw)  # -> Principal, 401 if bad
        principal = principal_for_user(session, user_id)          # console sessions (cookie)
        require(principal, "cases:read")            # ForbiddenError (403) if not allowed
        allowed(principal, "cases:write") -> bool   # same matrix, no raise (hide buttons)

    Principal: frozen dataclass(kind: "user" | "key", id: int, name: str,
                                role: Role | None, scopes: frozenset[Scope])
               .actor -> "user:alice" | "key:ingest-1" (what the audit log records)

    Actions (permissions.ACTIONS; the matrix is permissions.MATRIX):
      events:write, decisions:read, alerts:read, cases:read, cases:write, cases:assign_any,
      cases:reopen, rules:read, changes:propose, changes:approve, audit:read,
      users:manage, keys:manage
    Roles: analyst, lead, admin.   Scopes (API keys): events:write, decisions:read,
      alerts:read, cases:read, cases:write, rules:read, rules:write

    users.create_user(session, actor, username, password, role) -> UserView
    keys.create_api_key(session, actor, name, scopes) -> CreatedKey(raw_key, key: KeyView)
        raw_key ("vgk_<key_id>_<secret>") is returned once and never stored
    keys.revoke_api_key(session, actor, key_id) -> KeyView
    audit.record(session, actor, action, target_type, target_id, before, after) -> None
    audit.list_entries(session, actor, target_type=None, target_id=None, limit=100)
    approvals.propose_change(session, actor, kind, target, value, reason) -> ChangeView
    approvals.approve_change(session, actor, change_id) -> ChangeView   (applies it)
    approvals.reject_change(session, actor, change_id, reason) -> ChangeView
    approvals.effective_value(session, kind, target) -> JSON | None
        kind: "rule" | "threshold"; the change takes effect (effective_value) only when a
        DIFFERENT lead/admin approves: self-approval -> SelfApprovalError (403)
    pii.hash_value(kind, value, secret) -> str    (HMAC-SHA256, normalised per kind)

Errors (vigil.errors; each class knows its HTTP status, ``exc.http_status``):
    UnauthorizedError 401, ForbiddenError 403 (SelfApprovalError), NotFoundError 404,
    ConflictError 409 (IllegalTransitionError), RequestError 422.

The case service (``vigil.cases.service``) has the same shape, e.g.
``ingest_alerts(session, actor, alerts)``, ``list_cases(session, actor, filters, paging)``,
``get_case(session, actor, case_id)``, ``assign``, ``transition``, ``add_note``, ``label``.
"""

from __future__ import annotations

from vigil.security import approvals, audit, keys, pii, users
from vigil.security.approvals import approve_change, effective_value, propose_change, reject_change
from vigil.security.db import DEFAULT_URL, Database, make_engine
from vigil.security.keys import (
    CreatedKey,
    KeyView,
    authenticate_api_key,
    create_api_key,
    revoke_api_key,
)
from vigil.security.permissions import (
    ACTIONS,
    MATRIX,
    ROLES,
    SCOPES,
    Action,
    Principal,
    Role,
    Scope,
    allowed,
    require,
)
from vigil.security.settings import SecuritySettings
from vigil.security.users import UserView, authenticate_password, create_user, principal_for_user

__all__ = [
    "ACTIONS",
    "DEFAULT_URL",
    "MATRIX",
    "ROLES",
    "SCOPES",
    "Action",
    "CreatedKey",
    "Database",
    "KeyView",
    "Principal",
    "Role",
    "Scope",
    "SecuritySettings",
    "UserView",
    "allowed",
    "approvals",
    "approve_change",
    "audit",
    "authenticate_api_key",
    "authenticate_password",
    "create_api_key",
    "create_user",
    "effective_value",
    "keys",
    "make_engine",
    "pii",
    "principal_for_user",
    "propose_change",
    "reject_change",
    "require",
    "revoke_api_key",
    "users",
]
