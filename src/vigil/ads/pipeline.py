"""The ad stages run as one pipeline in the embedded runtime, writing ``ad_figures.jsonl``.

Every impression, click and change to a credited order adds to one campaign's minute. The
pipeline sums them by campaign and minute (a combiner, as engines aggregate before a
shuffle): impressions and clicks go straight into it (a count per campaign and minute needs
no state), and the order stage's rows join them. The runtime asks for the sums at every
publish and checkpoint (``drain``), so the file is as fresh as the other outputs and nothing
is held in the pipeline when state is checkpointed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from vigil.ads.figures import COUNTS, AdFigures, AdInvalid, Sums
from vigil.ads.givt import GeneralIvt
from vigil.ads.settings import BUCKET_MS, AdSettings
from vigil.ads.stages import ad_stages
from vigil.decisions.book import RefundDecision
from vigil.detectors.base import Context, Output
from vigil.events.derived import AdOrderFlagged
from vigil.events.schemas import AdClick, AdImpression, EventBase
from vigil.state.keyed.pipeline import StagePipeline

_IMPRESSIONS, _CLICKS, _SPEND = (COUNTS.index(n) for n in ("impressions", "clicks", "spend_micros"))
_INVALID_IMPRESSIONS, _INVALID_SPEND = (
    COUNTS.index(n) for n in ("invalid_impressions", "invalid_spend_micros")
)


class AdAnalytics(StagePipeline):
    """Attribution and campaign figures; no alerts."""

    name: ClassVar[str] = "ad_analytics"
    version: ClassVar[int] = 1
    #: the runtime writes these records to ``<channel>.jsonl``
    channels: ClassVar[tuple[str, ...]] = (AdFigures.channel, AdInvalid.channel)

    def __init__(self, settings: AdSettings | None = None) -> None:
        settings = settings or AdSettings()
        super().__init__(ad_stages(settings), settings)
        # the ad events are counted here even where no stage reads them
        self.subscribes = self.subscribes | {"ad_impression", "ad_click"}  # type: ignore[misc]
        #: sums per campaign and minute since the last drain
        self._acc = Sums()
        ivt = settings.ivt
        self._givt = GeneralIvt(ivt.datacentres) if ivt is not None else None

    def __setstate__(self, state: dict[str, Any]) -> None:
        AdAnalytics.__init__(self, state["settings"])

    def __reduce__(self) -> tuple[Any, ...]:
        return (AdAnalytics, (self.settings,))

    def on_event(self, event: EventBase, ctx: Context) -> Sequence[Output]:
        tp = type(event)
        invalid = None
        if tp is AdImpression or tp is AdClick:
            acc = self._count(event)  # type: ignore[arg-type]
            if tp is AdImpression and self._givt is not None:
                invalid = self._invalid_impression(event, acc)  # type: ignore[arg-type]
        outputs = self._keep(super().on_event(event, ctx))
        return outputs if invalid is None else (invalid, *outputs)

    def _invalid_impression(self, event: AdImpression, acc: list[Any]) -> AdInvalid | None:
        """General rules on an impression (a bot's user agent, a data-centre address): it
        needs no history, so it is judged here, once."""
        assert self._givt is not None
        reason = self._givt.reason(event.user_agent, event.ip)
        if reason is None:
            return None
        acc[2 + _INVALID_IMPRESSIONS] += 1
        acc[2 + _INVALID_SPEND] += event.cost_micros
        return AdInvalid(
            kind="impression",
            id=event.impression_id,
            campaign_id=event.campaign_id,
            advertiser_id=event.advertiser_id,
            event_time_ms=event.event_time_ms,
            invalid=True,
            reasons=(reason,),
            cost_micros=event.cost_micros,
        )

    def on_timer(self, key: str, payload: Any, fired_at_ms: int, ctx: Context) -> Sequence[Output]:
        return self._keep(super().on_timer(key, payload, fired_at_ms, ctx))

    def on_decision(self, decision: RefundDecision, ctx: Context) -> Sequence[Output]:
        """A refund decision the runtime wrote: deny takes the order out of net revenue."""
        if decision.order_id is None:
            return ()
        flagged = AdOrderFlagged(
            event_time_ms=decision.event_time_ms,
            order_id=decision.order_id,
            refund_id=decision.refund_id,
            source="decision",
            fraud=decision.decision == "deny",
        )
        self._bind_host(ctx)
        return self._keep(self._run(flagged, ctx.watermark_ms))

    def _count(self, event: AdImpression | AdClick) -> list[Any]:
        t = event.event_time_ms
        acc = self._acc.slot(event.campaign_id, t - t % BUCKET_MS, event.advertiser_id,
                             event.platform)  # fmt: skip
        acc[2 + (_CLICKS if type(event) is AdClick else _IMPRESSIONS)] += 1
        acc[2 + _SPEND] += event.cost_micros
        return acc

    def _keep(self, outputs: Sequence[Output]) -> Sequence[Output]:
        if not outputs:
            return ()
        rest: list[Output] = []
        for out in outputs:
            if type(out) is not AdFigures:
                rest.append(out)
                continue
            self._acc.add(out, out.minute_ms)
        return rest

    def drain(self) -> list[AdFigures]:
        """The sums since the last call, one row per campaign and minute that changed."""
        acc, self._acc = self._acc, Sums()
        return acc.rows()
