"""The LCD renderer and photographer: deterministic, labelled, and faithful to what meters show."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from firmware_sim.lcd import (
    HARSH,
    MILD,
    STYLES,
    TARIFFS,
    Autoscroll,
    display_text,
    make_sample,
    render_display,
    write_set,
)

ROOT = Path(__file__).resolve().parents[2]


def test_same_seed_gives_the_same_image_bytes():
    first = make_sample(5, 3, HARSH, styles=sorted(STYLES), qr_chance=0.5)
    again = make_sample(5, 3, HARSH, styles=sorted(STYLES), qr_chance=0.5)
    assert first == again


def test_another_seed_gives_another_image():
    assert make_sample(5, 3, MILD, styles=["classic"]).encoded != \
        make_sample(6, 3, MILD, styles=["classic"]).encoded


def test_crops_are_stretched_to_the_fixed_export_size():
    sample = make_sample(1, 0, HARSH, styles=["bold"], crop=True)
    image = cv2.imdecode(np.frombuffer(sample.encoded, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape[:2] == (31, 200)
    assert sample.tariff == "" and sample.display_quad is None


def test_display_text_truncates_like_the_meter_never_rounds():
    assert display_text(12_345_678, 6, 2) == "012345.67"
    assert display_text(12_345_999, 6, 1) == "012345.9"
    assert display_text(999, 5, 0) == "00000"


def test_display_text_rolls_over_like_the_register():
    assert display_text(123_456_789_000, 6, 0) == "456789"


def test_autoscroll_cycles_t1_t2_t3_total():
    scroll = Autoscroll({"t1": 1000, "t2": 2000, "t3": 3000, "total": 6000}, digits=5,
                        decimals=1, dwell_s=5.0)
    shown = [scroll.frame(t) for t in (0, 4.9, 5, 10, 15, 20)]
    assert [tariff for tariff, _ in shown] == ["t1", "t1", "t2", "t3", "total", "t1"]
    assert shown[4] == ("total", "00006.0")


def test_autoscroll_skips_registers_the_meter_lacks():
    scroll = Autoscroll({"t1": 1000, "total": 1000})
    assert [scroll.frame(t)[0] for t in (0, 5, 10)] == ["t1", "total", "t1"]


@pytest.mark.parametrize("text", ["12a45", "", "1.2.3"])
def test_render_refuses_text_no_display_shows(text):
    with pytest.raises(ValueError):
        render_display(text, "t1", STYLES["classic"])


def test_render_draws_every_tariff_mark_differently():
    images = [render_display("012345.67", t, STYLES["classic"]).rgb for t in TARIFFS]
    assert len({image.tobytes() for image in images}) == len(TARIFFS)


def test_ghosts_make_unlit_segments_visible():
    clean = render_display("111111", "t1", STYLES["classic"], ghost=0.0).rgb
    ghosted = render_display("111111", "t1", STYLES["classic"], ghost=0.3).rgb
    assert ghosted.mean() < clean.mean()


def test_write_set_labels_every_image(tmp_path: Path):
    samples = write_set(tmp_path, 3, 9, MILD, styles=["slim", "bold"], qr_chance=1.0)
    with open(tmp_path / "labels.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["file"] for r in rows] == [s.name for s in samples]
    assert all((tmp_path / r["file"]).stat().st_size > 1000 for r in rows)
    assert all(r["text"] == s.text and r["tariff"] == s.tariff and r["qr"] == s.qr
               for r, s in zip(rows, samples))


def test_labelled_set_command_writes_crops(tmp_path: Path):
    out = tmp_path / "set"
    done = subprocess.run([sys.executable, "-m", "firmware_sim.lcd", str(out), "--count", "2",
                           "--seed", "4", "--styles", "classic,boxed", "--crops",
                           "--conditions", "harsh"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(open(out / "labels.csv", newline="")))
    assert len(rows) == 2 and all(r["tariff"] == "" for r in rows)


def test_labelled_set_command_rejects_an_unknown_style(tmp_path: Path):
    done = subprocess.run([sys.executable, "-m", "firmware_sim.lcd", str(tmp_path), "--styles",
                           "fancy"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "unknown styles ['fancy']" in done.stderr
