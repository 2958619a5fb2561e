"""General invalid traffic (GIVT): what marks an ad event invalid by itself, without history.

Two rules, as the industry's GIVT lists work:

- **declared bots**: the user agent names a crawler, a spider, a monitoring service or an HTTP
  library. The patterns are those of Crawler-Detect (JayBizzle), kept up to date by its
  maintainers, through its Python port ``crawlerdetect``. A pattern match costs 0.1-0.5 ms,
  and a stream repeats few user agents, so answers are cached per user agent;
- **data-centre addresses**: the IP lies in a range the operator lists (cloud and hosting
  providers publish theirs), one CIDR per line, ``#`` comments. People do not browse from
  data centres; scrapers and click bots run there.

Sophisticated invalid traffic (bursts, farms, clicks with no impression, inhuman timing) needs
each device's and address's history: ``vigil.ads.sivt``.
"""

from __future__ import annotations

import hashlib
import ipaddress
from bisect import bisect_right
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Literal

from crawlerdetect import CrawlerDetect  # type: ignore[import-untyped]

from vigil.errors import ConfigError

GivtReason = Literal["bot_ua", "datacenter"]


@lru_cache(maxsize=1)
def _detector() -> CrawlerDetect:
    return CrawlerDetect()  # compiles the patterns: once, when first asked


@lru_cache(maxsize=65_536)
def is_declared_bot(user_agent: str) -> bool:
    """The user agent names a crawler, spider, monitor or HTTP library (cached)."""
    return bool(_detector().isCrawler(user_agent))


class DataCentres:
    """IP ranges of data centres: a sorted list of (first, last) per IP version."""

    def __init__(self, networks: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> None:
        spans: dict[int, list[tuple[int, int]]] = {4: [], 6: []}
        for net in networks:
            spans[net.version].append((int(net.network_address), int(net.broadcast_address)))
        self._starts: dict[int, list[int]] = {}
        self._ends: dict[int, list[int]] = {}
        for version, found in spans.items():
            merged: list[tuple[int, int]] = []
            for first, last in sorted(found):
                if merged and first <= merged[-1][1] + 1:
                    merged[-1] = (merged[-1][0], max(last, merged[-1][1]))
                else:
                    merged.append((first, last))
            self._starts[version] = [a for a, _ in merged]
            self._ends[version] = [b for _, b in merged]
        self.ranges = sum(len(v) for v in self._starts.values())
        listed = repr(sorted(self._starts.items())) + repr(sorted(self._ends.items()))
        #: what the ranges are, not where they sit in memory: part of a checkpoint's
        #: fingerprint (a run resumes only with the same ranges)
        self.digest = hashlib.sha256(listed.encode()).hexdigest()

    def __repr__(self) -> str:
        return f"DataCentres({self.ranges} ranges, sha256 {self.digest[:16]})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DataCentres) and other.digest == self.digest

    def __hash__(self) -> int:
        return hash(self.digest)

    @classmethod
    def load(cls, path: Path) -> DataCentres:
        """Read a file of CIDRs; a line that is not one is an error naming the line."""
        networks = []
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read data-centre ranges {str(path)!r}: {exc}") from exc
        for n, raw in enumerate(text.splitlines(), 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            try:
                networks.append(ipaddress.ip_network(line, strict=False))
            except ValueError as exc:
                raise ConfigError(
                    f"{path}:{n}: {line!r} is not an IP range (write one CIDR per line, "
                    f"e.g. 3.5.140.0/22): {exc}"
                ) from exc
        return cls(networks)

    def __contains__(self, ip: str) -> bool:
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return False
        starts = self._starts[addr.version]
        i = bisect_right(starts, int(addr)) - 1
        return i >= 0 and int(addr) <= self._ends[addr.version][i]


class GeneralIvt:
    """The GIVT rules: a declared bot's user agent, then a data-centre address."""

    def __init__(self, datacentres: DataCentres | None = None) -> None:
        self.datacentres = datacentres

    def reason(self, user_agent: str | None, ip: str | None) -> GivtReason | None:
        if user_agent and is_declared_bot(user_agent):
            return "bot_ua"
        if ip and self.datacentres is not None and ip in self.datacentres:
            return "datacenter"
        return None
