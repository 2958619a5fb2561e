"""The invalid-traffic filter: each rule on events shaped as the simulator writes them, the
verdicts whatever order events arrive in, an invalid click's order not credited, and its
quality against ground truth on simulator seeds it was not tuned on (1-3 were)."""

from __future__ import annotations

import random
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from vigil.ads.figures import read_rows
from vigil.ads.givt import DataCentres
from vigil.ads.ivt_eval import measure, truth_of, verdicts
from vigil.ads.pipeline import AdAnalytics
from vigil.ads.settings import AdSettings, IvtSettings
from vigil.events.codec import encode_one
from vigil.events.schemas import AdClick, AdImpression, LineItem, OrderPlaced
from vigil.ingest.sources import FileSource
from vigil.runtime.embedded import EmbeddedRuntime, RuntimeSettings
from vigil.sim import SimConfig, simulate

RANGES = Path(__file__).parent / "data" / "datacenter_ranges.txt"
T0 = 1_767_600_000_000
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
HOME_IP = "81.2.69.142"
LAPTOP = LineItem(sku="ELE-0042", category="electronics", price_cents=89_900, weight_g=2_100)


class Stream:
    """Ad events and orders with the simulator's id formats, in the order added."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self._n = 0

    def _id(self) -> str:
        self._n += 1
        return f"ev-{self._n}"

    def impression(self, t: int, device: str, campaign: str = "cmp-7", ip: str = HOME_IP,
                   ua: str = CHROME) -> None:  # fmt: skip
        self.events.append(
            AdImpression(
                event_id=self._id(),
                event_time_ms=t,
                impression_id=f"imp-{self._n}",
                campaign_id=campaign,
                advertiser_id="adv-3",
                platform="partner-social",
                device_id=device,
                cost_micros=2_500,
                ip=ip,
                user_agent=ua,
            )
        )

    def click(self, t: int, device: str, campaign: str = "cmp-7", ip: str = HOME_IP,
              ua: str = CHROME) -> str:  # fmt: skip
        click_id = f"clk-{self._n + 1}"
        self.events.append(
            AdClick(
                event_id=self._id(),
                event_time_ms=t,
                click_id=click_id,
                campaign_id=campaign,
                advertiser_id="adv-3",
                platform="partner-social",
                device_id=device,
                cost_micros=400_000,
                ip=ip,
                user_agent=ua,
            )
        )
        return click_id

    def order(self, t: int, device: str, click_id: str | None) -> None:
        n = self._n + 1
        self.events.append(
            OrderPlaced(
                event_id=self._id(),
                event_time_ms=t,
                order_id=f"o-{n:014x}",
                customer_id=f"c-{n:016x}",
                items=[LAPTOP],
                total_cents=89_900,
                shipping_address_hash="a-5e1c",
                payment_fingerprint="pf-77aa",
                device_id=device,
                ip=HOME_IP,
                country="US",
                ad_click_id=click_id,
            )
        )


def _run(lines: Iterable[bytes], root: Path, ads: AdSettings) -> Path:
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    (root / "events.jsonl").write_bytes(b"".join(line + b"\n" for line in lines))
    EmbeddedRuntime([AdAnalytics(ads)], root / "out", RuntimeSettings(analytics=False)).run(
        FileSource(root / "events.jsonl")
    )
    return root / "out"


def _verdicts(stream: Stream, root: Path) -> dict[str, tuple[str, ...]]:
    ads = AdSettings(ivt=IvtSettings(datacentres=DataCentres.load(RANGES)))
    out = _run((encode_one(e) for e in stream.events), root, ads)
    return {k[1]: v.reasons for k, v in verdicts(out / "ad_invalid.jsonl").items()}


def test_each_rule_flags_what_it_should_and_leaves_people_alone(tmp_path: Path) -> None:
    s = Stream()
    minute = 60_000
    # a person: shown the ad, clicks a minute later, orders an hour later
    s.impression(T0, "d-a1b2c3d4e5f6")
    person = s.click(T0 + minute, "d-a1b2c3d4e5f6")
    s.order(T0 + 60 * minute, "d-a1b2c3d4e5f6", person)
    # a crawler, and a browser in a data centre (both shown the ad first)
    s.impression(T0, "d-0f0f0f0f0f0f", ua=GOOGLEBOT)
    bot = s.click(T0 + minute, "d-0f0f0f0f0f0f", ua=GOOGLEBOT)
    s.impression(T0, "d-1e1e1e1e1e1e", ip="52.94.77.3")
    cloud = s.click(T0 + minute, "d-1e1e1e1e1e1e", ip="52.94.77.3")
    # never shown the ad
    blind = s.click(T0 + 2 * minute, "d-2d2d2d2d2d2d", ip="81.2.69.150")
    # four clicks on one campaign within ten minutes, all after an impression
    s.impression(T0, "d-3c3c3c3c3c3c", ip="81.2.69.151")
    burst = [s.click(T0 + (2 + i) * minute, "d-3c3c3c3c3c3c", ip="81.2.69.151") for i in range(4)]
    # a click 400 ms before an order by the same device (click injection)
    s.impression(T0, "d-4b4b4b4b4b4b", ip="81.2.69.152")
    injected = s.click(T0 + 30 * minute, "d-4b4b4b4b4b4b", ip="81.2.69.152")
    s.order(T0 + 30 * minute + 400, "d-4b4b4b4b4b4b", None)
    # a farm: twelve devices behind one address clicking an ad none of them was shown
    farm = [s.click(T0 + 40 * minute + i * 1000, f"d-5a5a5a5a5a{i:02x}", ip="185.7.7.7")
            for i in range(12)]  # fmt: skip
    # one address cycling three device ids, each shown the ad, clicking one campaign six
    # times in five minutes (no device bursts: two clicks each)
    cycled = []
    for i in range(3):
        s.impression(T0 + 50 * minute, f"d-7878787878{i:02x}", ip="81.2.69.160")
    for i in range(6):
        cycled.append(s.click(T0 + 51 * minute + i * 50_000, f"d-7878787878{i % 3:02x}",
                              ip="81.2.69.160"))  # fmt: skip
    # a carrier's shared address: twelve people, each shown the ad before clicking
    for i in range(12):
        s.impression(T0 + 40 * minute + i * 1000, f"d-6969696969{i:02x}", ip="100.64.1.1")
    shared = [s.click(T0 + 41 * minute + i * 1000, f"d-6969696969{i:02x}", ip="100.64.1.1")
              for i in range(12)]  # fmt: skip
    got = _verdicts(s, tmp_path / "rules")
    assert person not in got and not set(shared) & set(got)
    assert got[bot] == ("bot_ua",)
    assert got[cloud] == ("datacenter",)
    assert got[blind] == ("no_impression",)
    assert all(got[c] == ("click_burst",) for c in burst)
    assert got[injected] == ("fast_order",)
    assert all(set(got[c]) == {"click_farm", "no_impression"} for c in farm)
    assert all(got[c] == ("address_burst",) for c in cycled)
    impressions = {k for k in got if k.startswith("imp-")}
    assert len(impressions) == 2  # the crawler's and the data centre's


def test_a_late_impression_clears_the_click_and_an_invalid_click_credits_no_order(
    tmp_path: Path,
) -> None:
    s = Stream()
    click = s.click(T0 + 60_000, "d-a1b2c3d4e5f6")
    s.order(T0 + 3_600_000, "d-a1b2c3d4e5f6", click)
    out = _run((encode_one(e) for e in s.events), tmp_path / "before", AdSettings())
    rows = list(read_rows(out / "ad_figures.jsonl"))
    assert sum(r.invalid_clicks for r in rows) == 1 and sum(r.orders for r in rows) == 0
    s.impression(T0, "d-a1b2c3d4e5f6")  # shown the ad before the click, arriving late
    out = _run((encode_one(e) for e in s.events), tmp_path / "after", AdSettings())
    rows = list(read_rows(out / "ad_figures.jsonl"))
    assert sum(r.invalid_clicks for r in rows) == 0 and sum(r.orders for r in rows) == 1
    assert sum(r.invalid_spend_micros for r in rows) == 0
    assert verdicts(out / "ad_invalid.jsonl") == {}  # judged, then cleared
    last = (out / "ad_invalid.jsonl").read_bytes().splitlines()[-1]
    assert b'"invalid":false' in last and b'"reasons":[]' in last  # cleared: no reason left


@pytest.fixture(scope="module")
def unseen(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two streams with invalid traffic, from seeds the rules were not set on (1-3 were)."""
    roots = []
    for seed, share in ((41, 0.1), (57, 0.02)):  # 60% and about 25% of clicks invalid
        root = tmp_path_factory.mktemp(f"ivt-{seed}")
        simulate(SimConfig(seed=seed, events=60_000, ivt_share=share), root)
        roots.append(root)
    return roots


def _datacentres() -> DataCentres:
    import vigil.sim

    return DataCentres.load(Path(vigil.sim.__file__).parent / "data" / "datacenter_sample.txt")


def test_quality_on_seeds_not_tuned_on(unseen: list[Path], tmp_path: Path) -> None:
    """Issue 14's target: precision >= 0.95 and recall >= 0.90 of invalid clicks' spend."""
    ads = AdSettings(ivt=IvtSettings(datacentres=_datacentres()))
    for root in unseen:
        out = _run((root / "events.jsonl").read_bytes().splitlines(), tmp_path / root.name, ads)
        clicks, impressions = measure(verdicts(out / "ad_invalid.jsonl"),
                                      truth_of(root / "truth.jsonl"))  # fmt: skip
        q = clicks.as_dict()
        assert clicks.invalid > 50, "the stream must hold invalid clicks to measure"
        assert q["precision_of_spend"] >= 0.95, q  # type: ignore[operator]
        assert q["recall_of_spend"] >= 0.90, q  # type: ignore[operator]
        assert impressions.as_dict()["precision"] >= 0.95  # type: ignore[operator]


def test_verdicts_do_not_depend_on_arrival_order(unseen: list[Path], tmp_path: Path) -> None:
    """A quarter of the ad events moved later by up to 300 lines (hours of event time, within
    the lateness): the same clicks and impressions end up invalid, for the same reasons."""
    ads = AdSettings(ivt=IvtSettings(datacentres=_datacentres()))
    lines = (unseen[0] / "events.jsonl").read_bytes().splitlines()
    first = _run(lines, tmp_path / "in-order", ads)
    rng = random.Random(3)
    keys = [
        i + rng.randint(1, 300) + 0.5 if b'"type":"ad_' in line and rng.random() < 0.25 else i
        for i, line in enumerate(lines)
    ]
    moved = [line for _, line in sorted(zip(keys, lines, strict=True), key=lambda kl: kl[0])]
    assert moved != lines
    second = _run(moved, tmp_path / "moved", ads)

    def final(out: Path) -> dict[tuple[str, str], tuple[str, ...]]:
        return {k: v.reasons for k, v in verdicts(out / "ad_invalid.jsonl").items()}

    def dead(out: Path) -> int:
        return len((out / "dead_letter.jsonl").read_bytes().splitlines())

    assert dead(first) == dead(second)  # nothing moved out of the lateness
    assert final(first) == final(second)
    assert len(final(first)) > 200
