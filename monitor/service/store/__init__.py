"""The aggregator's history in an embedded SQLite database (DESIGN §11)."""

from monitor.service.store.queries import Restored
from monitor.service.store.writer import Retention, Store

__all__ = ["Restored", "Retention", "Store"]
