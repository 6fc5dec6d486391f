"""The accounting side: readings from the broker stored exactly once, with the retailer's rules.

``IngestWorker`` is one member of the shared subscription group; ``Store`` keeps readings,
meters, corrections and answers the queries (SQLite by default, PostgreSQL through psycopg 3);
``Rules`` holds the tunable parts of the rules in ``accounting.rules``; the submission windows by
region ship as data (``accounting/data/submission_windows.toml``).
"""

from accounting.ingest import IngestCounters, IngestWorker
from accounting.rules import Rules, billing_kwh, parse_kwh
from accounting.store import (Incoming, Malformed, Outcome, PeriodConsumption, Store, StoredReading,
                              Version)
from accounting.windows import Window, shipped_windows

__all__ = ["Incoming", "IngestCounters", "IngestWorker", "Malformed", "Outcome",
           "PeriodConsumption", "Rules", "Store", "StoredReading", "Version", "Window",
           "billing_kwh", "parse_kwh", "shipped_windows"]
