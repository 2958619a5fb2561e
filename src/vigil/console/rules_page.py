"""The rules page: versions, the rules in force, shadow results, backtests and four eyes.

**Where the rules live.** When ``vigil serve --rules FILE`` runs the runtime child with a
rules file, the console works on that same file and on the rule store beside it (the
directory's ``history.jsonl``: the store ``vigil run --rules`` records into, so versions
agree); the runtime hot-reloads the file at its next batch boundary. Without a rules file
(or with ``--external-runtime``) the store is ``STATE_DIR/rules/`` and approved rules are
written to ``STATE_DIR/rules/rules.yaml``, which nothing runs until the server is started
with ``--rules STATE_DIR/rules/rules.yaml``. The file's rules are recorded in the store when
the page is first opened (as the runtime does when it loads them).

**Four eyes.** A proposal is the YAML of a whole rule set (target ``*``: the file becomes
exactly that text) or of one rule (target: its name; it replaces the rule of that name, or
is added), checked by the rule loader first (problems with line and column, nothing
stored), or a new review or deny threshold. ``vigil.security.approvals`` files it, audits
it and refuses self-approval; the approver sees the difference against what is in force
*now*. Approving a rule change checks the resulting file again, records it in the store
(author: the proposer) and replaces the file atomically; approving a threshold changes the
live ``DecisionPolicy`` of ``POST /v1/refunds/decide`` at once, and restarts the runtime
child at the new thresholds (``RuntimeProcess.use_policy``: it checkpoints, stops and resumes
where it stopped), so its stream decisions use them from the next input line on; the
decisions already written stand. ``vigil serve`` starts with the last approved thresholds
unless its flags name others. An external runtime keeps its own flags (docs/rules.md, "In the
console").

**Backtests** run one at a time in a background thread (the page polls a status fragment):
the rule set in force or a pending rule change, replayed over the server's input log by
``vigil.detectors.rules.backtest``, scored against the labels analysts gave
(``analyst_decision`` events in the input log, which labelling a case writes).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from vigil.api.state import ApiState, get_state
from vigil.cases.service import refund_labels
from vigil.console.auth import Csrf, User
from vigil.console.pages import back_to, db_session
from vigil.console.render import flash_query, page
from vigil.console.rules_state import (
    PAGE,
    SET_TARGET,
    ProposalProblems,
    RulesConsole,
)
from vigil.console.threshold_preview import preview
from vigil.decisions.policy import THRESHOLDS, DecisionPolicy
from vigil.detectors.rules.store import HistoryRecord, to_yaml
from vigil.errors import ConfigError, ConflictError, RequestError, ServiceError, VigilError
from vigil.security import approvals, audit
from vigil.security.approvals import ChangeView
from vigil.security.permissions import allowed, require
from vigil.security.sessions import LiveSession

__all__ = ["router"]

router = APIRouter(prefix="/console", include_in_schema=False)
ChangeId = Annotated[int, PathParam(ge=1, le=2**31 - 1)]
JobId = Annotated[int, PathParam(ge=1, le=2**31 - 1)]
#: the thresholds a lead may change (``DecisionPolicy``'s fields)
ThresholdName = Literal["review_threshold", "deny_threshold"]

# --- the page -----------------------------------------------------------------------------


def _thresholds(st: ApiState, approved: dict[str, Any]) -> list[dict[str, Any]]:
    live = st.settings.decision_policy
    command = getattr(st.runtime, "command", None)
    child: DecisionPolicy | None = getattr(command, "policy", None)
    return [
        {
            "name": name,
            "live": getattr(live, name),
            "approved": approved.get(name),
            "runtime": None if child is None else getattr(child, name),
        }
        for name in THRESHOLDS
    ]


def _render(
    request: Request,
    live: LiveSession,
    status_code: int = 200,
    *,
    problems: list[str] | None = None,
    draft: str = "",
    draft_reason: str = "",
) -> HTMLResponse:
    st = get_state(request)
    rc = RulesConsole.of(request)
    current = rc.in_force()
    with db_session(st) as session:
        pending = approvals.list_changes(session, live.principal, "pending")
        decided = [
            c
            for c in approvals.list_changes(session, live.principal, None, 30)
            if c.status != "pending"
        ][:15]
        approved = {n: approvals.effective_value(session, "threshold", n) for n in THRESHOLDS}
    policy = st.settings.decision_policy
    shadow = rc.shadow.read()
    rules = [] if current.loaded is None else list(current.loaded.ruleset)
    records = rc.store.records()
    latest_job = rc.jobs[-1] if rc.jobs else None
    return page(
        request,
        "rules.html",
        live,
        status_code=status_code,
        title="Rules",
        rc=rc,
        current=current,
        rules=rules,
        shadow=shadow,
        shadow_other=sorted(set(shadow) - {r.name for r in rules}),
        versions=list(reversed(records))[:200],
        pending=[(c, rc.diff(c, current, policy)) for c in pending],
        decided=decided,
        thresholds=_thresholds(st, approved),
        can_approve=allowed(live.principal, "changes:approve"),
        can_propose=allowed(live.principal, "changes:propose"),
        actor=live.principal.actor,
        job=latest_job,
        input_log=st.settings.input_log,
        problems=problems or [],
        draft=draft,
        draft_reason=draft_reason,
        SET_TARGET=SET_TARGET,
    )


@router.get("/rules")
def rules_page(request: Request, live: User) -> HTMLResponse:
    require(live.principal, "rules:read")
    return _render(request, live)


@router.get("/rules/versions/{name}/{version}")
def version_page(
    request: Request,
    live: User,
    name: Annotated[str, PathParam(min_length=1, max_length=128)],
    version: Annotated[int, PathParam(ge=1, le=2**31 - 1)],
) -> Response:
    require(live.principal, "rules:read")
    store = RulesConsole.of(request).store
    try:
        rec = store.get(name, version)
        diff = store.diff(name, None, version)
    except ConfigError as exc:
        return back_to(PAGE, error=str(exc))
    return page(
        request,
        "rules_version.html",
        live,
        title=f"{name} v{version}",
        rec=rec,
        yaml_text=to_yaml(rec.definition),
        diff=diff.splitlines(),
    )


@router.post("/rules/propose")
def propose_rules(
    request: Request,
    live: Csrf,
    text: Annotated[str, Form(max_length=200_000)],
    reason: Annotated[str, Form(max_length=2_000)] = "",
) -> Response:
    require(live.principal, "changes:propose")
    rc = RulesConsole.of(request)
    try:
        proposal = rc.parse(text)
    except ProposalProblems as exc:
        return _render(request, live, 422, problems=exc.problems, draft=text, draft_reason=reason)
    try:
        with db_session(get_state(request)) as session:
            view = approvals.propose_change(
                session, live.principal, "rule", proposal.target, proposal.value, reason
            )
    except ServiceError as exc:
        return _render(request, live, 422, problems=[str(exc)], draft=text, draft_reason=reason)
    what = "the rule set" if view.target == SET_TARGET else f"rule {view.target}"
    return back_to(
        PAGE, msg=f"change {view.id} to {what} proposed: another lead or admin approves it"
    )


@router.get("/rules/thresholds/preview")
def threshold_preview(
    request: Request,
    live: User,
    name: Annotated[ThresholdName, Query()],
    value: Annotated[float, Query(ge=0.0, le=1.0)],
) -> HTMLResponse:
    """What ``name`` at ``value`` would do to the refunds the server holds (an htmx fragment
    under the threshold form; docs/rules.md)."""
    require(live.principal, "rules:read")
    st = get_state(request)
    current = float(getattr(st.settings.decision_policy, name))
    with db_session(st) as session:
        labels = refund_labels(session)
    found = preview(st.index.decisions.values(), name, current, value, labels)
    return page(request, "_threshold_preview.html", live, p=found)


@router.post("/rules/thresholds")
def propose_threshold(
    request: Request,
    live: Csrf,
    name: Annotated[ThresholdName, Form()],
    value: Annotated[float, Form(ge=0.0, le=1.0)],
    reason: Annotated[str, Form(max_length=2_000)] = "",
) -> RedirectResponse:
    st = get_state(request)
    try:
        require(live.principal, "changes:propose")
        _policy_with(st.settings.decision_policy, name, value)  # checks the pair
        with db_session(st) as session:
            view = approvals.propose_change(
                session, live.principal, "threshold", name, value, reason
            )
    except (ServiceError, ConfigError) as exc:
        return back_to(PAGE, error=str(exc))
    return back_to(PAGE, msg=f"change {view.id} ({name} {value:g}) proposed")


@router.post("/rules/changes/{change_id}/approve")
def approve(
    request: Request,
    change_id: ChangeId,
    live: Csrf,
    reason: Annotated[str, Form(max_length=2_000)] = "",
) -> RedirectResponse:
    st = get_state(request)
    rc = RulesConsole.of(request)
    after: list[Callable[[], None]] = []
    written: list[HistoryRecord] = []

    restarted: list[bool] = []

    def on_apply(change: ChangeView) -> None:
        if change.kind == "threshold":
            policy = _policy_with(st.settings.decision_policy, change.target, change.value)
            after.append(lambda: _set_policy(st, policy))
            if st.runtime is not None:
                runtime = st.runtime
                after.append(lambda: restarted.append(runtime.use_policy(policy)))
        else:
            written.extend(rc.apply_rules(change, live.principal.actor))

    try:
        with rc.approval_lock, db_session(st) as session:
            view = approvals.approve_change(
                session, live.principal, change_id, reason=reason or None, on_apply=on_apply
            )
    except (ServiceError, ConfigError) as exc:
        return back_to(PAGE, error=str(exc))
    except OSError as exc:  # the rules file or store could not be written: nothing approved
        return back_to(PAGE, error=f"change {change_id} not approved: {exc}")
    for effect in after:
        effect()
    if view.kind == "threshold":
        if st.runtime is None:
            stream = "an external runtime keeps its own until it is restarted with them"
        elif restarted and restarted[0]:
            stream = "and for the runtime's stream decisions from its next input line"
        else:
            stream = "and for the runtime's stream decisions when it next starts"
        msg = (
            f"change {change_id} approved: {view.target} is {view.value:g} for POST "
            f"/v1/refunds/decide now, {stream}"
        )
    else:
        versions = ", ".join(f"{r.rule} v{r.version} ({r.action})" for r in written) or "none"
        where = "the runtime reloads it" if rc.rules_file else "no runtime runs it yet"
        msg = f"change {change_id} approved: {rc.target} written ({where}); versions {versions}"
    return back_to(PAGE, msg=msg)


def _policy_with(policy: DecisionPolicy, name: str, value: object) -> DecisionPolicy:
    """``policy`` with one threshold changed (``ConfigError`` if deny would fall below review)."""
    if not isinstance(value, int | float) or name not in THRESHOLDS:
        raise RequestError(f"threshold {name!r}: {value!r} is not a score")
    review = float(value) if name == "review_threshold" else policy.review_threshold
    deny = float(value) if name == "deny_threshold" else policy.deny_threshold
    return dataclasses.replace(policy, review_threshold=review, deny_threshold=deny)


def _set_policy(st: ApiState, policy: DecisionPolicy) -> None:
    st.settings = dataclasses.replace(st.settings, decision_policy=policy)


@router.post("/rules/changes/{change_id}/reject")
def reject(
    request: Request,
    change_id: ChangeId,
    live: Csrf,
    reason: Annotated[str, Form(max_length=2_000)] = "",
) -> RedirectResponse:
    try:
        with db_session(get_state(request)) as session:
            view = approvals.reject_change(session, live.principal, change_id, reason)
    except ServiceError as exc:
        return back_to(PAGE, error=str(exc))
    verb = "withdrawn" if view.requested_by == live.principal.actor else "rejected"
    return back_to(PAGE, msg=f"change {change_id} {verb}")


@router.post("/rules/backtest")
def start_backtest(
    request: Request,
    live: Csrf,
    what: Annotated[str, Form(max_length=32)] = "current",
) -> RedirectResponse:
    st = get_state(request)
    rc = RulesConsole.of(request)
    try:
        require(live.principal, "changes:propose")
        current = rc.in_force()
        if what == "current":
            if current.error is not None:
                raise ConflictError(f"the rules in force do not load: {current.error}")
            if not current.text.strip():
                raise ConflictError(
                    "no rules are in force yet, so there is nothing to backtest: propose a "
                    "rule set, then backtest that pending change"
                )
            text, label = current.text, "the rules in force"
        else:
            change_id = int(what) if what.isdigit() else 0
            with db_session(st) as session:
                change = approvals.get_change(session, live.principal, change_id)
            if change.kind != "rule" or change.status != "pending":
                raise RequestError(f"change {change_id} is not a pending rule change")
            text, label = rc.proposed_text(change, current), f"change {change.id}"
        job = rc.start_backtest(text, label, live.principal.actor)
        with db_session(st) as session:
            audit.record(
                session, live.principal, "rules.backtest", "backtest", job.id, None, {"what": label}
            )
    except (ServiceError, VigilError) as exc:
        return back_to(PAGE, error=str(exc))
    query = flash_query(f"backtest {job.id} started", None)
    return RedirectResponse(f"{PAGE}?{query}#backtest", status_code=303)


@router.get("/rules/backtest/{job_id}")
def backtest_status(request: Request, live: User, job_id: JobId) -> HTMLResponse:
    require(live.principal, "rules:read")
    job = RulesConsole.of(request).job(job_id)
    if job is None:
        return HTMLResponse("<p class='empty'>That backtest is gone.</p>", status_code=404)
    return page(request, "rules_backtest.html", live, job=job)
