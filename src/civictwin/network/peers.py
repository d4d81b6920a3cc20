"""The peer cities of this twin's network: configured by participant id, known by registry."""

from __future__ import annotations

from dataclasses import dataclass

from civictwin.config import Settings
from civictwin.dataspace.participants import Participants
from civictwin.errors import BadRequestData, ResourceNotFound
from civictwin.store import Store


@dataclass(frozen=True)
class Peer:
    """A peer city: its participant id, name and Dataspace Protocol endpoint."""

    id: str
    name: str
    endpoint: str

    @property
    def base_url(self) -> str:
        """Return the peer twin's base URL (its DSP endpoint without the trailing /dsp)."""
        url = self.endpoint.rstrip("/")
        return url[: -len("/dsp")] if url.endswith("/dsp") else url

    def to_json(self) -> dict[str, str]:
        """Return the peer as plain JSON."""
        return {"id": self.id, "name": self.name, "endpoint": self.endpoint}


def city_name(settings: Settings) -> str:
    """Return this city's name in answers and benchmarks."""
    return settings.network_city_name or settings.participant_id


def peers(store: Store, settings: Settings) -> list[Peer]:
    """Return the configured peer cities; BadRequestData names one that cannot take part."""
    registry = Participants(store)
    found: list[Peer] = []
    for peer_id in settings.network_peers:
        participant = registry.find(peer_id)
        if participant is None:
            raise ResourceNotFound(f"network peer {peer_id} is not a registered participant "
                                   "(register it with `civictwin participants add`)")
        if not participant.endpoint:
            raise BadRequestData(f"network peer {peer_id} has no Dataspace Protocol endpoint "
                                 "registered")
        if participant.public_key is None:
            raise BadRequestData(f"network peer {peer_id} has no public key registered; its "
                                 "protocol answers could not be verified")
        if not participant.active:
            raise BadRequestData(f"network peer {peer_id} is suspended")
        found.append(Peer(participant.id, participant.name, participant.endpoint))
    return found


def peer(store: Store, settings: Settings, peer_id: str) -> Peer:
    """Return one configured peer city; ResourceNotFound if it is not in the network."""
    for candidate in peers(store, settings):
        if candidate.id == peer_id:
            return candidate
    raise ResourceNotFound(f"{peer_id} is not a peer of this twin's network (setting "
                           "network_peers)")
