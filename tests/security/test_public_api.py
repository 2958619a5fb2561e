"""The public names of vigil.security and vigil.cases: a change here is a change on purpose."""

from __future__ import annotations

import vigil.cases
import vigil.security
from vigil import errors


def test_security_all() -> None:
    assert sorted(vigil.security.__all__) == sorted(
        [
            "ACTIONS", "DEFAULT_URL", "MATRIX", "ROLES", "SCOPES", "Action", "CreatedKey",
            "Database", "KeyView", "Principal", "Role", "Scope", "SecuritySettings", "UserView",
            "allowed", "approvals", "approve_change", "audit", "authenticate_api_key",
            "authenticate_password", "create_api_key", "create_user", "effective_value", "keys",
            "make_engine", "pii", "principal_for_user", "propose_change", "reject_change",
            "require", "revoke_api_key", "users",
        ]
    )  # fmt: skip
    for name in vigil.security.__all__:
        assert hasattr(vigil.security, name), name


def test_cases_all() -> None:
    assert sorted(vigil.cases.__all__) == sorted(
        [
            "STATUSES", "TRANSITIONS", "AlertView", "CaseDetail", "CaseFilter", "CasePage",
            "CaseStatus", "CaseSummary", "Group", "IngestResult", "LabelResult", "NoteView",
            "Paging", "add_note", "assign", "check_transition", "find_cases_by_identifier",
            "flush_outbox", "get_case", "group_of", "ingest_alerts", "label", "link_identifier",
            "list_cases", "transition",
        ]
    )  # fmt: skip
    for name in vigil.cases.__all__:
        assert hasattr(vigil.cases, name), name


def test_service_errors_know_their_http_status() -> None:
    assert {
        cls.__name__: cls.http_status
        for cls in (
            errors.RequestError,
            errors.UnauthorizedError,
            errors.ForbiddenError,
            errors.SelfApprovalError,
            errors.NotFoundError,
            errors.ConflictError,
            errors.IllegalTransitionError,
        )
    } == {
        "RequestError": 422,
        "UnauthorizedError": 401,
        "ForbiddenError": 403,
        "SelfApprovalError": 403,
        "NotFoundError": 404,
        "ConflictError": 409,
        "IllegalTransitionError": 409,
    }
    assert all(issubclass(c, errors.VigilError) for c in (errors.ServiceError,))
