"""Who may open which view of the dashboard: one rule per view, checked by the server.

The page asks `/web/open/me` what the visitor may see and greys out the rest, but the rule is
enforced where the data is served: every dashboard data route names its view and calls
`require`, so a participant without the right gets 403 whatever the page does.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from civictwin.config import Settings
from civictwin.dataspace.auth import Principal, local_operator
from civictwin.dataspace.participants import Participant
from civictwin.errors import Forbidden, Unauthorized


@dataclass(frozen=True)
class ViewRule:
    """What a view needs: nothing (open data), any participant, or one of some roles."""

    label: str
    anonymous: bool = False
    roles: frozenset[str] | None = None
    """None: any authenticated participant; otherwise one of these roles (or operator)."""

    def refusal(self, who: Participant | None) -> str | None:
        """Return why `who` may not open the view, or None if it may."""
        if self.anonymous:
            return None
        if who is None:
            return f"{self.label} needs you to sign in with a participant's API key"
        if self.roles is None or who.operator or who.roles & self.roles:
            return None
        wanted = " or ".join(sorted(self.roles | {"operator"}))
        return (f"{self.label} is for participants with the role {wanted}; "
                f"{who.id} has {', '.join(sorted(who.roles)) or 'no role'}")


VIEWS: dict[str, ViewRule] = {
    "map": ViewRule("The city map", anonymous=True),
    "catalogue": ViewRule("The catalogue", anonymous=True),
    "indicators": ViewRule("City indicators"),
    "climate": ViewRule("The greenhouse gas inventory"),
    "scenarios": ViewRule("Scenarios"),
    "forecasts": ViewRule("Forecasts"),
    "agreements": ViewRule("Agreements and negotiations"),
    "aggregates": ViewRule("Aggregate releases"),
    "consent": ViewRule("The consent overview", roles=frozenset({"provider", "intermediary"})),
    "audit": ViewRule("The audit log", roles=frozenset()),
}
"""The dashboard's views. The open ones still only show open data: the map reads tenants
the operator opened (`anonymous_read`), the catalogue is public."""


def visitor(request: Request) -> Participant | None:
    """Return the participant a request acts for, or None for an anonymous visitor."""
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is not None:
        return principal.participant
    settings: Settings = request.app.state.settings
    # Public paths pass the gate without a principal; with authentication off everyone
    # acts as the local operator, as on every other route.
    return None if settings.auth_required else local_operator(settings)


def require(request: Request, view: str) -> Participant | None:
    """Return the visitor if it may open `view`; Unauthorized or Forbidden otherwise."""
    who = visitor(request)
    reason = VIEWS[view].refusal(who)
    if reason is None:
        return who
    if who is None:
        raise Unauthorized(reason)
    raise Forbidden(reason)
