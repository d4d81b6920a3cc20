"""Persistence: the Store protocol and its SQLite and PostgreSQL implementations."""

from civictwin.store.base import Entity, EntityQuery, QueryResult, Store
from civictwin.store.factory import open_store

__all__ = ["Entity", "EntityQuery", "QueryResult", "Store", "open_store"]
