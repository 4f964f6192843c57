"""The statesync client: live, optimistic handles on server instances (stdlib only)."""

from .backoff import Backoff
from .client import Client, Status
from .errors import ClientClosed, ClientError, Rejected, TransportClosed
from .instance import Instance
from .queries import Change, Item, LiveQuery, Page
from .session import AnonymousSession, TokenSource
from .state import State
from .transport import Socket, Transport, default_transport
from .user_settings import UserSettings

__all__ = [
    "AnonymousSession",
    "Backoff",
    "Change",
    "Client",
    "ClientClosed",
    "ClientError",
    "Instance",
    "Item",
    "LiveQuery",
    "Page",
    "Rejected",
    "Socket",
    "State",
    "Status",
    "TokenSource",
    "Transport",
    "TransportClosed",
    "UserSettings",
    "default_transport",
]
