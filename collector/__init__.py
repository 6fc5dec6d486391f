"""Config, scheduling, normalization and the CLI: the collector owns the reading model and wires
sources (drivers, ocr) to sinks (stdout, mqtt)."""

from collector.reading import (
    SCHEMA,
    MeterRef,
    PayloadError,
    Quality,
    Reading,
    reading_from_dict,
    reading_from_json,
)

__all__ = ["SCHEMA", "MeterRef", "PayloadError", "Quality", "Reading", "reading_from_dict",
           "reading_from_json"]
