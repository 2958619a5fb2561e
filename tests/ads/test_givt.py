"""General invalid traffic: declared bots by user agent, data-centre ranges from a file."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil.ads.givt import DataCentres, GeneralIvt, is_declared_bot
from vigil.errors import ConfigError

SAMPLE = Path(__file__).parent / "data" / "datacenter_ranges.txt"

BROWSERS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.7; rv:132.0) Gecko/20100101 Firefox/132.0",
]
BOTS = [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "python-requests/2.32.3",
    "curl/8.5.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/120.0.0.0 Safari/537.36",
]


@pytest.mark.parametrize("ua", BOTS)
def test_declared_bots_are_known_by_their_user_agent(ua: str) -> None:
    assert is_declared_bot(ua)


@pytest.mark.parametrize("ua", BROWSERS)
def test_browsers_are_not(ua: str) -> None:
    assert not is_declared_bot(ua)


def test_data_centre_ranges_from_the_operators_file() -> None:
    dc = DataCentres.load(SAMPLE)
    assert dc.ranges == 5
    assert "3.5.141.7" in dc and "34.81.255.255" in dc and "104.131.63.1" in dc
    assert "2600:1f18:4000::1" in dc
    assert "3.5.144.0" not in dc and "34.82.0.0" not in dc and "81.2.69.142" not in dc
    assert "not an ip" not in dc
    givt = GeneralIvt(dc)
    assert givt.reason(BROWSERS[0], "52.94.77.3") == "datacenter"
    assert givt.reason(BOTS[0], "81.2.69.142") == "bot_ua"
    assert givt.reason(BROWSERS[1], "81.2.69.142") is None
    assert GeneralIvt().reason(BROWSERS[0], "52.94.77.3") is None  # no file, no rule
    assert givt.reason(None, None) is None


def test_a_line_that_is_no_range_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "ranges.txt"
    bad.write_text("3.5.140.0/22\n3.5.999.0/22\n")
    with pytest.raises(ConfigError, match=r"ranges.txt:2: '3.5.999.0/22' is not an IP range"):
        DataCentres.load(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        DataCentres.load(tmp_path / "missing.txt")


def test_the_same_ranges_read_twice_are_equal_and_print_the_same() -> None:
    """A checkpoint's fingerprint holds the settings' repr: a run must resume with the same
    file (an object address in it refused every resume)."""
    a, b = DataCentres.load(SAMPLE), DataCentres.load(SAMPLE)
    assert a == b and repr(a) == repr(b) and "0x" not in repr(a)
    assert repr(a).startswith("DataCentres(5 ranges, sha256 ")
