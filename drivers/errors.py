"""The exceptions every meterlink package raises.

They live in ``drivers`` because it is the bottom of the dependency graph: ``ocr``,
``firmware_sim``, ``collector``, ``mqtt`` and ``accounting`` may all import it, and
nothing here imports them. Third-party exceptions (pymodbus, paho, OpenCV, sqlite3,
psycopg) are converted at one boundary each, with ``raise … from exc``.

    MeterlinkError
     ├── ConfigError            a config or profile file is wrong; names the file, line and key
     ├── MeterError             one meter could not be read (carries bus, unit, address, attempt)
     │    ├── MeterTimeout      no reply within the bus timeout             (retryable)
     │    ├── FrameError        CRC error, garbage or a truncated reply     (retryable)
     │    ├── DeviceException   the meter answered with a Modbus exception code
     │    └── ValueUnavailable  a register holds NaN or the model's "not available" marker
     ├── TransportError         the port or the gateway itself is unusable (retryable)
     ├── ReadError              a photo cannot be read; the reason is one a person can act on
     ├── DeliveryError          a reading could not be handed on (spool full, broker refused)
     └── StoreError             the accounting store refused or lost its connection
"""

from __future__ import annotations


class MeterlinkError(Exception):
    """Root of every error meterlink raises on purpose."""


class ConfigError(MeterlinkError):
    """A configuration or profile file is invalid.

    The message always names where: ``site.toml:12: [[meter]] unit: …``.
    """

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 key: str | None = None) -> None:
        self.file = file
        self.line = line
        self.key = key
        where = ""
        if file is not None:
            where = file if line is None else f"{file}:{line}"
        if key is not None:
            where = f"{where}: {key}" if where else key
        super().__init__(f"{where}: {message}" if where else message)


class MeterError(MeterlinkError):
    """One meter could not be read.

    ``retryable`` tells the scheduler whether another attempt in the same cycle can help:
    a timeout or a garbled frame may pass next time, an exception code will not.
    """

    retryable = True

    def __init__(self, message: str, *, bus: str = "", unit: int = 0, address: int | None = None,
                 attempt: int = 1) -> None:
        self.bus = bus
        self.unit = unit
        self.address = address
        self.attempt = attempt
        self.reason = message
        at = f" @{address}" if address is not None else ""
        super().__init__(f"{bus} unit {unit}{at}: {message}")


class MeterTimeout(MeterError):
    """The meter did not answer within the bus timeout."""


class FrameError(MeterError):
    """The reply was damaged: CRC mismatch, garbage bytes, wrong length or wrong unit."""


class DeviceException(MeterError):
    """The meter answered with a Modbus exception response (illegal address, busy, …)."""

    retryable = False

    def __init__(self, message: str, *, code: int, **where: object) -> None:
        self.code = code
        super().__init__(message, **where)  # type: ignore[arg-type]


class ValueUnavailable(MeterError):
    """The meter answered, but a register holds no value (NaN, or the model's invalid marker).

    Asking again in the same cycle returns the same register, so it is not retryable.
    """

    retryable = False

    def __init__(self, message: str, *, quantity: str, **where: object) -> None:
        self.quantity = quantity
        super().__init__(message, **where)  # type: ignore[arg-type]


class TransportError(MeterlinkError):
    """The serial port or TCP gateway cannot be opened or has gone away.

    Carries the bus, and the unit and address of the request that found out, when there was one.
    """

    retryable = True

    def __init__(self, message: str, *, bus: str = "", unit: int | None = None,
                 address: int | None = None) -> None:
        self.bus = bus
        self.unit = unit
        self.address = address
        self.reason = message
        where = bus
        if unit is not None:
            where = f"{where} unit {unit}"
        if address is not None:
            where = f"{where} @{address}"
        super().__init__(f"{where}: {message}" if where else message)


class ReadError(MeterlinkError):
    """A display photo cannot be turned into a reading; ``reason`` says what to do about it."""

    def __init__(self, reason: str, *, path: str | None = None) -> None:
        self.reason = reason
        self.path = path
        super().__init__(f"{path}: {reason}" if path else reason)


class MissingDigits(ReadError):
    """The display was found but part of the reading is wiped out (a digit under glare, the
    decimals after a lit point) or cut off (digits running off the edge of the region read):
    a reading made without them would be a guess.

    ``layout`` is how many integer digits and decimals were laid out, the unreadable ones
    included, where the reader knows (another reader's reading of as many digits lost none).
    """

    def __init__(self, reason: str, *, path: str | None = None,
                 layout: tuple[int, int] | None = None) -> None:
        self.layout = layout
        super().__init__(reason, path=path)


class DeliveryError(MeterlinkError):
    """A reading could not be handed to its sink (spool full, broker refused the credentials)."""


class StoreError(MeterlinkError):
    """The accounting store rejected an operation or is unreachable."""
