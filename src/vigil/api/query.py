"""Unknown query parameters are refused, not ignored.

``GET /v1/alerts?agnet_id=ag-7`` would otherwise answer every alert, as if the filter had
been applied: the caller cannot tell a typo from an empty filter. Each API route's own
parameters are what FastAPI resolved for it (its dependant); anything else is a 422 that
names the parameter and lists those the route takes.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError


async def known_query(request: Request) -> None:
    """A dependency of every API route: refuse query parameters the route does not take."""
    if not request.query_params:
        return
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    known = _query_names(dependant)
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        takes = ", ".join(sorted(known)) or "none"
        raise RequestValidationError(
            [
                {
                    "type": "unknown_parameter",
                    "loc": ["query", name],
                    "msg": f"unknown query parameter {name!r} (this endpoint takes: {takes})",
                    "input": request.query_params.get(name),
                }
                for name in unknown
            ]
        )


def _query_names(dependant: Any) -> set[str]:
    """The query parameters of a route and of its dependencies (FastAPI's ``Dependant``)."""
    names: set[str] = set()
    stack = [dependant]
    while stack:
        current = stack.pop()
        names.update(p.alias for p in current.query_params)
        stack.extend(current.dependencies)
    return names
