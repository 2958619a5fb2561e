"""Small helpers shared by the sequence detectors (no state of their own)."""

from __future__ import annotations

import math
from typing import Any

from vigil.detectors.base import Context, Signal, clamp01
from vigil.events.schemas import RefundIssued

#: timer keys of retention sweeps look like ``gc|<bucket end ms>``
GC_PREFIX = "gc|"
_GC_BUCKETS = "gc"  # str(bucket end ms) -> [(namespace, key), ...] to look at then
_DAY_MS = 86_400_000


#: what a sequence detector keeps of a refund: (refund_id, order_id, customer_id,
#: amount_cents, policy, issued_by, agent_id, session_id, refund_time_ms)
RefundFacts = tuple[str, str, str, int, str, str, str | None, str | None, int]


def refund_facts(event: RefundIssued) -> RefundFacts:
    """The plain, picklable facts of a refund that the sequence detectors keep in state."""
    return (
        event.refund_id,
        event.order_id,
        event.customer_id,
        event.amount_cents,
        event.policy,
        event.issued_by,
        event.agent_id,
        event.session_id,
        event.event_time_ms,
    )


def refund_signal(
    detector: str,
    version: int,
    facts: RefundFacts,
    score: float,
    reasons: list[str],
    explanation: str,
    when_ms: int,
    also: tuple[tuple[str, int], ...] = (),
) -> Signal:
    """A signal about one refund (the score is clamped to [0, 1] and rounded); ``also``:
    (refund id, amount) of earlier refunds of the same pattern it covers too (listed in
    ``refund_ids``; the amount stays the refund's own, as a case counts each refund once)."""
    refund_id, order_id, customer_id, amount, _, _, agent_id, session_id, _ = facts
    return Signal(
        detector=detector,
        version=version,
        subject_type="refund",
        subject_id=refund_id,
        score=round(clamp01(score), 6),
        reasons=tuple(reasons),
        explanation=explanation,
        event_time_ms=when_ms,
        refund_ids=(refund_id, *(rid for rid, _ in also)),
        amount_cents=amount,  # its own refund's: cases add refunds up once each
        customer_id=customer_id,
        agent_id=agent_id,
        order_id=order_id,
        session_id=session_id,
    )


def logistic(x: float) -> float:
    """Squash a logit into (0, 1) without overflow."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def money(cents: int) -> str:
    """``123456`` -> ``$1,234.56``."""
    return f"${cents / 100:,.2f}"


def days(ms: int) -> str:
    """A duration in days, for explanations."""
    d = ms / 86_400_000
    return f"{d:g} day" + ("" if d == 1 else "s")


def retain(ctx: Context, namespace: str, key: str, now_ms: int, retention_ms: int) -> None:
    """Schedule a retention sweep for a new state entry ``namespace[key]``.

    Entries are lists (or tuples) whose element 0 is the event time of their last
    activity, or a bare int that is that time. Sweeps are
    bucketed by day (one timer per day, not one per entry): the entry is looked at in the
    first sweep at or after ``now_ms + retention_ms`` and deleted if it saw no activity
    for ``retention_ms``, else moved to a later bucket. Deletion may lag by up to a day.
    """
    file_for_sweep(ctx, (namespace, key), now_ms + retention_ms)


def file_for_sweep(ctx: Context, item: tuple[str, str], due_ms: int) -> None:
    """File ``item`` = (namespace, key) in the sweep bucket of ``due_ms`` (see ``retain``).

    The hot-path form of ``retain``: ``due_ms`` is the entry's last activity + retention.
    """
    bucket_end = due_ms - due_ms % _DAY_MS + _DAY_MS
    skey = str(bucket_end)
    buckets = ctx.keyed(_GC_BUCKETS)
    entries: list[tuple[str, str]] | None = buckets.get(skey)
    if entries is None:
        buckets[skey] = [item]
        ctx.set_timer(bucket_end, GC_PREFIX + skey)
    else:
        entries.append(item)


def sweep(ctx: Context, timer_key: str, fired_at_ms: int, retention_ms: int) -> None:
    """Handle a retention timer set by ``retain``: drop idle entries, re-file the others."""
    buckets = ctx.keyed(_GC_BUCKETS)
    entries: list[tuple[str, str]] | None = buckets.pop(timer_key[len(GC_PREFIX) :], None)
    if not entries:
        return
    store_ns = ""
    store: dict[str, Any] = {}
    for item in entries:
        namespace, key = item
        if namespace != store_ns:
            store_ns, store = namespace, ctx.keyed(namespace)
        entry = store.get(key)
        if entry is None:
            continue
        last = entry if type(entry) is int else int(entry[0])
        if last + retention_ms <= fired_at_ms:
            del store[key]
        else:
            # re-file (never in the bucket being swept: its end is after fired_at_ms)
            due = last + retention_ms
            bucket_end = due - due % _DAY_MS + _DAY_MS
            skey = str(bucket_end)
            later: list[tuple[str, str]] | None = buckets.get(skey)
            if later is None:
                buckets[skey] = [item]
                ctx.set_timer(bucket_end, GC_PREFIX + skey)
            else:
                later.append(item)


def note_signup(ctx: Context, namespace: str, customer_id: str, t: int, retention_ms: int) -> None:
    """Keep a customer's (earliest) sign-up time in ``namespace`` while it is worth knowing."""
    signups = ctx.keyed(namespace)
    old = signups.get(customer_id)
    if old is None:
        signups[customer_id] = t
        file_for_sweep(ctx, (namespace, customer_id), t + retention_ms)
    elif t < old:
        signups[customer_id] = t


def is_young(signup_ms: int | None, at_ms: int, young_ms: int) -> bool:
    """Did the account sign up at most ``young_ms`` before ``at_ms``? (unknown: no, it is older
    than the stream)"""
    return signup_ms is not None and at_ms - young_ms <= signup_ms <= at_ms


def touch(entry: list[Any], time_ms: int) -> None:
    """Record activity on a retained entry (element 0 holds the latest event time)."""
    if time_ms > entry[0]:
        entry[0] = time_ms


# --- a decayed log-amount histogram (robust typical amount and spread) ----------------------

#: bins of width ``LOG_BIN`` in ln(cents), covering 1 cent to about $100 million
LOG_BIN = 0.1
LOG_BINS = 185


def log_bin(amount_cents: int) -> int:
    """The histogram bin of an amount."""
    x = math.log(max(1, amount_cents))
    return min(LOG_BINS - 1, int(x / LOG_BIN))


def new_histogram() -> list[float]:
    return [0.0] * LOG_BINS


def quantile(hist: list[float], q: float) -> float:
    """The ``q`` quantile of ln(amount) in a histogram with a positive total weight."""
    total = sum(hist)
    target = q * total
    acc = 0.0
    for i, w in enumerate(hist):
        if w > 0 and acc + w >= target:
            return (i + (target - acc) / w) * LOG_BIN
        acc += w
    return LOG_BINS * LOG_BIN


def quartiles(hist: list[float]) -> tuple[float, float, float]:
    """``quantile`` at 0.25, 0.5 and 0.75 in one pass (the same floats as three calls)."""
    total = sum(hist)
    targets = (0.25 * total, 0.5 * total, 0.75 * total)
    out: list[float] = []
    target = targets[0]
    acc = 0.0
    for i, w in enumerate(hist):
        if w > 0:
            while acc + w >= target:
                out.append((i + (target - acc) / w) * LOG_BIN)
                if len(out) == 3:
                    return out[0], out[1], out[2]
                target = targets[len(out)]
        acc += w
    while len(out) < 3:
        out.append(LOG_BINS * LOG_BIN)
    return out[0], out[1], out[2]


class AmountBaseline:
    """Typical ln(amount) of a population, learned in event-time order without depending on
    the order of equal-time updates.

    State (plain data, kept by the caller in keyed state): ``[weight, hist, last_ms,
    pending_ms, pending]`` where ``pending`` holds the updates of the latest event time;
    they are folded in only once a strictly later time is scored, so two updates at the
    same time never see each other. Older data decays by ``decay_per_day``.
    """

    @staticmethod
    def new() -> list[Any]:
        return [0.0, new_histogram(), None, None, {}]

    @staticmethod
    def fold(state: list[Any], now_ms: int, decay_per_day: float) -> None:
        pending_ms = state[3]
        if pending_ms is None or pending_ms >= now_ms:
            return
        hist: list[float] = state[1]
        if state[2] is not None and decay_per_day < 1.0:
            factor = decay_per_day ** ((pending_ms - state[2]) / 86_400_000)
            for i, w in enumerate(hist):
                if w:
                    hist[i] = w * factor
            state[0] *= factor
        pending: dict[int, int] = state[4]
        for b, n in pending.items():
            hist[b] += n
            state[0] += n
        state[2], state[3], state[4] = pending_ms, None, {}

    @staticmethod
    def add(state: list[Any], time_ms: int, amount_cents: int) -> None:
        """Queue one observation at ``time_ms`` (call ``fold`` with ``time_ms`` first)."""
        state[3] = time_ms
        pending: dict[int, int] = state[4]
        b = log_bin(amount_cents)
        pending[b] = pending.get(b, 0) + 1

    @staticmethod
    def typical(
        state: list[Any] | None, min_weight: float, prior_cents: int, prior_sd: float
    ) -> tuple[float, float, bool]:
        """(median ln amount, robust sd from the inter-quartile range, learned?)."""
        if state is None or state[0] < min_weight:
            return math.log(max(1, prior_cents)), prior_sd, False
        hist: list[float] = state[1]
        q25, q50, q75 = quartiles(hist)
        return q50, max(0.25, (q75 - q25) / 1.349), True
