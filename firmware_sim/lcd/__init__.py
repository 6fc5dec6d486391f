"""Rendered photos of a meter's LCD with their ground truth, for the OCR's tests and benchmarks.

``render_display`` draws the glass (``display``), ``photograph`` and ``crop_field`` turn it into
the images readers meet (``camera``), ``write_set`` writes a labelled set
(``python -m firmware_sim.lcd``). Nothing here knows the collector: it takes plain values.
"""

from firmware_sim.lcd.camera import CONDITIONS, HARSH, MILD, Conditions, Photo, crop_field, photograph
from firmware_sim.lcd.display import (
    BACKLIGHTS,
    HELD_OUT_STYLES,
    STYLES,
    TARIFFS,
    TUNING_STYLES,
    Autoscroll,
    DisplayImage,
    LcdStyle,
    display_text,
    render_display,
)
from firmware_sim.lcd.labelled_set import Sample, make_sample, qr_payload, random_text, write_set

__all__ = [
    "BACKLIGHTS", "CONDITIONS", "HARSH", "HELD_OUT_STYLES", "MILD", "STYLES", "TARIFFS",
    "TUNING_STYLES", "Autoscroll", "Conditions", "DisplayImage", "LcdStyle", "Photo", "Sample",
    "crop_field", "display_text", "make_sample", "photograph", "qr_payload", "random_text",
    "render_display", "write_set",
]
