"""The retailer's return centres: where an honest return label sends a parcel.

A fake tracking id (FTID) shows carrier scans that look like a return on its way (the right
weight, in the right country) while the parcel goes to a drop address. What gives it away
is *where*: a label addressed to somewhere that is not a return centre, a parcel "delivered"
at another postal code, scans that move away from the centre. So Vigil has to know the
centres: ``vigil run --return-centres FILE`` (YAML or JSON: a list of ``{centre_id, country,
postal_code}``). The default is the simulated retailer's four centres.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import msgspec
import yaml

from vigil.errors import ConfigError

__all__ = ["DEFAULT_RETURN_CENTRES", "ReturnCentre", "ReturnCentres", "load_return_centres"]


class ReturnCentre(msgspec.Struct, frozen=True, kw_only=True):
    centre_id: str
    country: str
    postal_code: str


#: the simulated retailer's centres (``vigil.sim.world.WAREHOUSES``; a test keeps them equal)
DEFAULT_RETURN_CENTRES: tuple[ReturnCentre, ...] = (
    ReturnCentre(centre_id="wh-reno", country="US", postal_code="89506"),
    ReturnCentre(centre_id="wh-coventry", country="GB", postal_code="CV3 4PE"),
    ReturnCentre(centre_id="wh-leipzig", country="DE", postal_code="04159"),
    ReturnCentre(centre_id="wh-sydney", country="AU", postal_code="2170"),
)


def _norm(postal_code: str) -> str:
    return postal_code.replace(" ", "").upper()


class ReturnCentres:
    """Lookups by id and by postal code (spaces and case ignored)."""

    def __init__(self, centres: Iterable[ReturnCentre] = DEFAULT_RETURN_CENTRES) -> None:
        self.centres = tuple(centres)
        self.by_id = {c.centre_id: c for c in self.centres}
        self.by_postal = {(c.country, _norm(c.postal_code)): c for c in self.centres}
        self._postal_codes = {_norm(c.postal_code) for c in self.centres}

    def is_centre_postal_code(self, postal_code: str, country: str | None = None) -> bool:
        if country is None:
            return _norm(postal_code) in self._postal_codes
        return (country, _norm(postal_code)) in self.by_postal

    def centre_of_label(
        self, destination_id: str | None, postal_code: str | None, country: str | None
    ) -> ReturnCentre | None:
        """The centre a label is addressed to, or None (unknown, or not a centre)."""
        if destination_id is not None and destination_id in self.by_id:
            centre = self.by_id[destination_id]
            if postal_code is None or _norm(postal_code) == _norm(centre.postal_code):
                return centre
            return None
        if postal_code is not None:
            for (c_country, code), centre in self.by_postal.items():
                if code == _norm(postal_code) and country in (None, c_country):
                    return centre
        return None

    def same_place(self, centre: ReturnCentre, postal_code: str) -> bool:
        return _norm(postal_code) == _norm(centre.postal_code)

    def fingerprint(self) -> str:
        return msgspec.json.encode(self.centres).decode()


def load_return_centres(path: Path) -> ReturnCentres:
    """Read a YAML or JSON list of centres; a clear error names the entry at fault."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read return centres from {path}: {exc}") from None
    if isinstance(data, dict):
        data = data.get("return_centres")
    if not isinstance(data, list) or not data:
        raise ConfigError(
            f"{path}: expected a list of return centres ({{centre_id, country, postal_code}}), "
            "or a mapping with a 'return_centres' list"
        )
    centres = []
    for i, item in enumerate(data):
        try:
            centres.append(msgspec.convert(item, ReturnCentre))
        except msgspec.ValidationError as exc:
            raise ConfigError(f"{path}: return centre {i + 1}: {exc}") from None
    return ReturnCentres(centres)
