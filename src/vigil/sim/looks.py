"""What an ad network sees of a device: its user agent and the IP it comes from.

Why derived from the device id: people's ad traffic must get a user agent and an IP without a
single draw from the simulator's random streams (a draw would move every later line), so both
are pure functions of (seed, device id) through :class:`Hasher`. A device keeps its browser for
the whole run; a customer's phone comes from the customer's mobile IP (a carrier's shared CGNAT
address for some) and a computer from the home IP, the addresses their logins and orders use.

Invalid traffic (:mod:`vigil.sim.ivt`) takes its browsers from the same function and the same
list, and its home-looking IPs from the same address blocks with the same host-number rule
(:func:`ip_from`), so neither a user agent nor the shape of an address marks it: only what the
issue names does (bot user agents, data-centre ranges, timing, volume, missing impressions).
"""

from __future__ import annotations

import hashlib
import ipaddress
from bisect import bisect_right
from importlib import resources
from itertools import accumulate

from vigil.sim.ids import K_AD_CGNAT, K_AD_LOOK, Hasher, ip_from
from vigil.sim.world import _COUNTRY_CUM, COUNTRIES, Profile

#: Current browsers as they announce themselves (late 2026 releases), with a weight: about
#: two thirds of partner-network ad traffic is mobile, much of it in the apps' own browsers.
#: (user agent, weight, mobile)
BROWSERS: tuple[tuple[str, float, bool], ...] = (
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36",
        12,
        False,
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/130.0.0.0 Safari/537.36",
        4,
        False,
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36",
        5,
        False,
    ),
    (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36",
        1,
        False,
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
        5,
        False,
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
        3,
        False,
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:133.0) Gecko/20100101 Firefox/133.0",
        1,
        False,
    ),
    (
        "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
        0.5,
        False,
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like "
        "Gecko) Version/18.1 Safari/605.1.15",
        4,
        False,
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/130.0.0.0 Safari/537.36 OPR/115.0.0.0",
        0.5,
        False,
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
        "like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
        14,
        True,
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
        "like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
        4,
        True,
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
        "like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1",
        3,
        True,
    ),
    (
        "Mozilla/5.0 (iPad; CPU OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/18.1 Mobile/15E148 Safari/604.1",
        2,
        True,
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
        "like Gecko) Mobile/15E148 Instagram 356.0.0.27.84 (iPhone15,3; iOS 18_1; en_US; en; "
        "scale=3.00; 1290x2796; 658426036)",
        5,
        True,
    ),
    (
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Mobile Safari/537.36",
        16,
        True,
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) "
        "SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
        5,
        True,
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/AP2A.240905.003; wv) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Version/4.0 Chrome/130.0.6723.107 Mobile Safari/537.36 "
        "[FB_IAB/FB4A;FBAV/487.0.0.53.80;]",
        6,
        True,
    ),
    (
        "Mozilla/5.0 (Android 14; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0",
        1,
        True,
    ),
    (
        "Mozilla/5.0 (Linux; Android 13; SM-A536B) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Mobile Safari/537.36",
        3,
        True,
    ),
)
BROWSER_UAS: tuple[str, ...] = tuple(ua for ua, _, _ in BROWSERS)
#: indices of Android browsers (what phone farms run)
ANDROID: tuple[int, ...] = tuple(k for k, (ua, _, _) in enumerate(BROWSERS) if "Android" in ua)
_BROWSER_CUM = list(accumulate(w for _, w, _ in BROWSERS))

#: Declared crawlers, bots and scripts, as they announce themselves. Each comes with where it
#: comes from: "google" (Google's published crawler range 66.249.64.0/19), "microsoft"
#: (bingbot's 157.55.39.0/24 and 40.77.167.0/24) or "cloud" (a data-centre range).
BOTS: tuple[tuple[str, str], ...] = (
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "google"),
    (
        "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, "
        "like Gecko) Chrome/131.0.6778.69 Mobile Safari/537.36 (compatible; Googlebot/2.1; "
        "+http://www.google.com/bot.html)",
        "google",
    ),
    ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", "microsoft"),
    ("Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)", "cloud"),
    ("Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)", "cloud"),
    ("facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", "cloud"),
    (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "HeadlessChrome/131.0.0.0 Safari/537.36",
        "cloud",
    ),
    ("python-requests/2.32.3", "cloud"),
    ("curl/8.5.0", "cloud"),
    ("Go-http-client/1.1", "cloud"),
    ("Scrapy/2.11.2 (+https://scrapy.org)", "cloud"),
    ("Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)", "cloud"),
    ("Mozilla/5.0 (compatible; MJ12bot/v1.4.8; http://mj12bot.com/)", "cloud"),
    ("Mozilla/5.0 (compatible; DotBot/1.2; +https://opensiteexplorer.org/dotbot)", "cloud"),
    (
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; "
        "+https://openai.com/gptbot)",
        "cloud",
    ),
    ("Twitterbot/1.0", "cloud"),
)
#: the search engines' own crawler ranges (published by Google and Microsoft; not hosting)
CRAWLER_RANGES: dict[str, tuple[str, ...]] = {
    "google": ("66.249.64.0/19",),
    "microsoft": ("157.55.39.0/24", "40.77.167.0/24"),
}

#: Hosting ranges that are NOT in the sample file (Linode/Akamai, Vultr, Contabo, Scaleway,
#: Oracle Cloud): a filter that reads only the sample misses these, as one that reads the
#: operator's real list would miss a provider it does not cover.
UNLISTED_DATACENTER: tuple[str, ...] = (
    "172.104.0.0/15",
    "50.116.0.0/18",
    "45.76.0.0/16",
    "45.32.0.0/16",
    "149.28.0.0/16",
    "207.180.192.0/18",
    "163.172.0.0/16",
    "129.146.0.0/16",
)

#: share of customers' and strangers' phones whose IP is a carrier's shared CGNAT address
#: (strangers only; customers' come from the world's ``cgnat_share``)
STRANGER_CGNAT_SHARE = 0.15
#: strangers' phones per CGNAT address
STRANGERS_PER_CGNAT_IP = 80


def load_datacenter_sample() -> tuple[str, ...]:
    """The CIDRs of ``data/datacenter_sample.txt`` (comments and blank lines skipped)."""
    text = resources.files("vigil.sim").joinpath("data/datacenter_sample.txt").read_text()
    out = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            ipaddress.ip_network(line)  # a typo in the file fails here, not in a filter
            out.append(line)
    return tuple(out)


def ip_in(cidr: str, v: int) -> str:
    """An IPv4 address inside ``cidr`` from the 64-bit value ``v``; the last octet follows
    :func:`ip_from`'s rule so that an address's shape tells nothing about where it came from."""
    net = ipaddress.IPv4Network(cidr)
    host_bits = 32 - net.prefixlen
    n = int(net.network_address) | (v & ((1 << host_bits) - 1))
    if host_bits >= 8:
        n = (n & ~255) | ((n & 253) + 1)
    return str(ipaddress.IPv4Address(n))


class DeviceLooks:
    """User agent and IP of a device, derived from (seed, device id); no random draws."""

    __slots__ = ("_cache", "_h", "_n_cgnat")

    def __init__(self, hasher: Hasher, n_strangers: int) -> None:
        self._h = hasher
        self._n_cgnat = max(1, round(n_strangers * STRANGER_CGNAT_SHARE / STRANGERS_PER_CGNAT_IP))
        #: device -> (user agent, mobile, stranger's ip): devices come back again and again
        self._cache: dict[str, tuple[str, bool, str]] = {}

    def _look(self, device: str) -> tuple[str, bool, str]:
        look = self._cache.get(device)
        if look is None:
            key = int.from_bytes(hashlib.blake2b(device.encode(), digest_size=7).digest(), "big")
            v = self._h.h(K_AD_LOOK, key)
            k = bisect_right(_BROWSER_CUM, (v & 0xFFFFFFFF) / 2**32 * _BROWSER_CUM[-1])
            k = min(k, len(BROWSERS) - 1)
            mobile = BROWSERS[k][2]
            u = (v >> 32) & 0xFFFF
            if mobile and u < STRANGER_CGNAT_SHARE * 0x10000:
                # a carrier's shared address: strangers of one market share a pool of them
                pool = (v >> 48) % self._n_cgnat
                country = COUNTRIES[(v >> 56) % 4]  # the big markets' carriers
                ip = ip_from(country.octet, self._h.h(K_AD_CGNAT, pool))
            else:
                c = bisect_right(_COUNTRY_CUM, ((v >> 48) & 0xFFFF) / 0x10000 * _COUNTRY_CUM[-1])
                country = COUNTRIES[min(c, len(COUNTRIES) - 1)]
                ip = ip_from(country.octet, self._h.h(K_AD_LOOK, key ^ (1 << 55)))
            look = (BROWSER_UAS[k], mobile, ip)
            self._cache[device] = look
        return look

    def user_agent(self, device: str) -> str:
        return self._look(device)[0]

    def is_mobile(self, device: str) -> bool:
        return self._look(device)[1]

    def stranger_ip(self, device: str) -> str:
        """The IP of a device the retailer has never seen (not a customer's)."""
        return self._look(device)[2]

    def customer_ip(self, device: str, p: Profile) -> str:
        """A customer's device: its phone on the mobile IP, its computer on the home IP."""
        return p.mobile_ip if self._look(device)[1] else p.home_ip
