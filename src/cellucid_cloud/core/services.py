"""The services, made from a host's ports in one place (:func:`build_services`).

Every host chooses its adapters once (``aws_ports``, ``local_ports``: its composition root)
and gets its services here, so the catalog, meta and events services are wired the same way on
AWS and on one machine. Each service is made when first used: a Lambda function pays only for
what it serves, and may lack the ports or the site of the others (the prepare function has no
sessions bucket and no public URL).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING

from cellucid_cloud.catalog.meta import MetaService
from cellucid_cloud.catalog.service import TRANSFER_GRACE, CatalogService
from cellucid_cloud.core.ports import Ports

if TYPE_CHECKING:
    from cellucid_cloud.events.service import EventsService

__all__ = ["Services", "Site", "build_services"]


@dataclass(frozen=True, slots=True)
class Site:
    """What the public answers are built for: the URL users open, and how long meta answers
    are cached."""

    base_url: str
    meta_ttl: float = 60.0
    meta_miss_ttl: float = 5.0


class Services:
    def __init__(self, ports: Ports, site: Site | None, transfer_grace: timedelta) -> None:
        self.ports = ports
        self.site = site
        self.transfer_grace = transfer_grace

    @cached_property
    def catalog(self) -> CatalogService:
        return CatalogService(self.ports.catalog, transfer_grace=self.transfer_grace)

    @cached_property
    def meta(self) -> MetaService:
        """Meta lookups over the catalog and the exports, cached for the site's TTLs."""
        if self.site is None:
            raise LookupError("meta answers need a site (its public URL)")
        return MetaService(
            self.catalog,
            self.ports.exports,
            self.site.base_url,
            ttl=self.site.meta_ttl,
            miss_ttl=self.site.meta_miss_ttl,
            clock=time.monotonic,
        )

    @cached_property
    def events(self) -> EventsService:
        """Imported here: the hosts that keep no sessions (the meta and prepare functions)
        start without the events' modules."""
        from cellucid_cloud.events.service import EventsService

        if self.ports.events is None or self.ports.sessions is None:
            raise LookupError("events need an event store and a session blob store")
        return EventsService(self.ports.events, self.ports.sessions, self.meta)


def build_services(
    ports: Ports, site: Site | None = None, *, transfer_grace: timedelta = TRANSFER_GRACE
) -> Services:
    """The services over ``ports``, each made when first used. ``transfer_grace``: how long
    a file may still arrive after its upload URL expired (none where the host sees every PUT
    complete, as ``up`` does)."""
    return Services(ports, site, transfer_grace)
