"""Photo of a meter's LCD → the reading it shows, with a confidence (see DESIGN.md).

``read_display(photo)`` finds the display (or takes an image that already is the reading
field), reads its seven-segment digits, decimal point and tariff mark, decodes a QR code beside
it, and returns a ``DisplayRead``; anything it cannot read raises ``drivers.errors.ReadError``
with a reason a resident can act on. Deterministic, offline, no model downloads.
"""

from ocr.qr import QrPayload, parse_qr_payload
from ocr.reader import LOW_CONFIDENCE, DisplayRead, read_display, read_qr

__all__ = ["LOW_CONFIDENCE", "DisplayRead", "QrPayload", "parse_qr_payload", "read_display", "read_qr"]
