"""Return parcels for the sequence detector tests: labels with destinations, scans that say
where they happened, and whole return flows (honest, lost, and each FTID variant)."""

from __future__ import annotations

from collections.abc import Sequence

from vigil.events.schemas import CarrierScan, EventBase, ReturnLabelCreated, ScanType

from .._factories import DAY, HOUR, T0, Events

#: Reno, the default centre for US customers
RENO = ("wh-reno", "89506", "US")
#: a depot near the customer, a hub, somewhere else in the US (a drop address)
DEPOT = "94107"
HUB = "60666"
DROP = "10451"


class ParcelEvents(Events):
    """``Events`` plus labels with a destination and located scans."""

    def label_to(
        self,
        return_id: str,
        order_id: str,
        t: int,
        destination: tuple[str | None, str | None, str | None] = RENO,
    ) -> ReturnLabelCreated:
        return ReturnLabelCreated(
            event_id=self._id(),
            event_time_ms=t,
            return_id=return_id,
            order_id=order_id,
            carrier="UPS",
            tracking_id="trk-" + return_id,
            destination_id=destination[0],
            destination_postal_code=destination[1],
            destination_country=destination[2],
        )

    def scan_at(
        self,
        return_id: str,
        order_id: str,
        t: int,
        scan_type: ScanType,
        postal_code: str,
        *,
        country: str = "US",
        read: str = RENO[1],
        weight_g: int = 1_300,
    ) -> CarrierScan:
        """A scan at ``postal_code``; ``read``: the destination read off the label."""
        return CarrierScan(
            event_id=self._id(),
            event_time_ms=t,
            return_id=return_id,
            order_id=order_id,
            tracking_id="trk-" + return_id,
            scan_type=scan_type,
            weight_g=weight_g,
            location_country=country,
            facility_id="ups-" + postal_code,
            postal_code=postal_code,
            destination_postal_code=read,
        )


#: (days after the first scan, scan type, postal code, destination read) of a route
Route = Sequence[tuple[float, ScanType, str, str]]
HONEST: Route = ((0, "first_scan", DEPOT, RENO[1]), (1, "in_transit", HUB, RENO[1]),
                 (2, "delivered", RENO[1], RENO[1]))  # fmt: skip
LOST: Route = ((0, "first_scan", DEPOT, RENO[1]), (1, "in_transit", HUB, RENO[1]))
DROP_READ: Route = ((0, "first_scan", DEPOT, DROP), (1.5, "delivered", DROP, DROP))
DELIVERED_ELSEWHERE: Route = ((0, "first_scan", DEPOT, RENO[1]), (1, "in_transit", HUB, RENO[1]),
                              (2, "delivered", "89431", RENO[1]))  # fmt: skip
MOVES_AWAY: Route = ((0, "first_scan", DEPOT, RENO[1]), (1.5, "in_transit", RENO[1], RENO[1]),
                     (2, "in_transit", "89431", RENO[1]))  # fmt: skip


def return_flow(
    f: ParcelEvents,
    n: int,
    t0: int,
    route: Route,
    *,
    received_after_days: float | None = None,
    label: tuple[str | None, str | None, str | None] = RENO,
    policy: str = "on_first_scan",
    amount_cents: int = 90_000,
    customer_id: str | None = None,
) -> list[EventBase]:
    """Order ``o<n>`` (a $900 TV) delivered, returned on ``route`` from ``t0`` + 3 days (the
    first scan), refunded (on first scan by default), and received ``received_after_days``
    after the first scan (None: never)."""
    cid = customer_id or f"c{n}"
    oid, rid = f"o{n}", f"ret{n}"
    first = t0 + 3 * DAY
    evs: list[EventBase] = [
        f.order(oid, t0, items=(("tv", amount_cents, 1_000),), customer_id=cid),
        f.delivered(oid, t0 + DAY, cid),
        f.return_requested(rid, oid, t0 + 2 * DAY, customer_id=cid, skus=("tv",)),
        f.label_to(rid, oid, t0 + 2 * DAY + HOUR, label),
    ]
    for days, kind, postal, read in route:
        evs.append(f.scan_at(rid, oid, first + int(days * DAY), kind, postal, read=read))
    issued_by = "agent" if policy == "manual_override" else "system"
    evs.append(
        f.refund(
            f"r{n}",
            oid,
            first + HOUR,
            amount_cents=amount_cents,
            policy=policy,  # type: ignore[arg-type]
            issued_by=issued_by,  # type: ignore[arg-type]
            return_id=rid,
            customer_id=cid,
        )
    )
    if received_after_days is not None:
        evs.append(f.receipt(rid, oid, first + int(received_after_days * DAY)))
    return evs


def by_time(events: Sequence[EventBase]) -> list[EventBase]:
    return sorted(events, key=lambda e: e.event_time_ms)


__all__ = ["DAY", "HOUR", "T0"]
