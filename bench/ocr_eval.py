"""Accuracy and speed of the display reader against two baselines, on one labelled folder.

    python bench/ocr_eval.py DIR [--limit N] [--no-baselines] [--classifiers] [--second-opinion]

DIR holds images and ``labels.csv`` (file, text[, tariff[, qr]]), as written by
``python -m firmware_sim.lcd``. Prints one JSON object: for ``ours`` and for the baselines
``ssocr`` (``-d -1 -T -c decimal``) and plain ``tesseract`` (``--psm 7``, digits whitelist),
all run on the same images in the same run, each with

- ``exact``: share of images whose text (digits and point) is read exactly, and for ours
  ``exact_and_sure``: read exactly with a confidence at or above the low-confidence bar
  (accepted without asking the resident for another photo),
- ``digits``: share of digits right (1 - edit distance / digits shown),
- ``tariff``: share of tariff marks right, where the label has one (ours only),
- ``rejected``: share refused with a reason (ReadError), and ``confident_wrong``: how many
  wrong readings came with a confidence at or above the low-confidence bar
  (``confident_wrong_tariff``: how many right ones came so naming a wrong tariff mark,
  where the label has one: billed to the wrong register),
- ``ms_median`` and ``ms_p95`` per photo, decoding included, on one core.

``qr`` counts the QR codes labelled, decoded exactly (by ``read_display``, or by ``read_qr``
where the digits could not be read), and decoded where none was labelled.
``locate`` (for photos whose labels carry ``field_quad``) measures finding alone: how often the
top row image of ``ocr.locate.digit_rows`` (and any of the three it returns; and the top row
as the line reader cuts it, ``LINE_EXTRA`` wider) holds the whole labelled reading field
inside its height and width while the field fills at least 60 % of the height, how often the
top glass candidate holds the field, and the milliseconds each search takes.
``--classifiers`` adds ``ours:line`` (the line recognizer alone), ``ours:cells`` (the cell
reader alone) and ``ours:cells:segments`` and ``ours:cells:model`` (the cell reader with one
digit classifier); ``ours`` uses the line recognizer checked by the cell reader. ``--second-opinion`` adds ``ours+tesseract``: where ours refuses, tesseract reads the display
region and its answer is taken; where ours is unsure, tesseract agreeing makes it sure. It
shows whether tesseract earns a place.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_THREAD_LIMIT"):
    os.environ.setdefault(_var, "1")  # one core, for the reader and the baselines alike

import argparse  # noqa: E402
import csv  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field, replace  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from drivers.errors import ReadError  # noqa: E402
from ocr import LOW_CONFIDENCE, read_display, read_qr  # noqa: E402
from ocr.line import LINE_EXTRA  # noqa: E402
from ocr.locate import DigitRow, digit_rows, display_candidates, row_surroundings, widened  # noqa: E402
from ocr.photo_file import load_photo  # noqa: E402

cv2.setNumThreads(1)
_READING = re.compile(r"^\d{4,10}(\.\d{1,3})?$")


@dataclass(frozen=True)
class Label:
    file: str
    text: str
    tariff: str
    qr: str
    field_quad: np.ndarray | None = None


@dataclass
class LocateTally:
    """How often finding alone gets the reading field right, and what it costs."""

    photos: int = 0
    row_top: int = 0
    row_any: int = 0
    row_top_widened: int = 0
    glass_top: int = 0
    row_seconds: list[float] = field(default_factory=list)
    glass_seconds: list[float] = field(default_factory=list)

    def add(self, path: Path, truth: np.ndarray) -> None:
        bgr = load_photo(path)
        start = time.perf_counter()
        rows = digit_rows(bgr)
        self.row_seconds.append(time.perf_counter() - start)
        start = time.perf_counter()
        glass = display_candidates(bgr)
        self.glass_seconds.append(time.perf_counter() - start)
        self.photos += 1
        held = [_row_holds(row, truth) for row in rows]
        self.row_top += bool(held and held[0])
        self.row_any += any(held)
        if rows:
            wide = replace(rows[0], image=widened(bgr, rows[:1], LINE_EXTRA)[0],
                           quad=row_surroundings(rows[0], above=0.0, below=0.0,
                                                 left=LINE_EXTRA, right=LINE_EXTRA))
            self.row_top_widened += _row_holds(wide, truth)
        self.glass_top += bool(glass and _quad_holds(glass[0].quad, truth))

    def summary(self) -> dict[str, object]:
        n = max(1, self.photos)
        row_ms = np.array(self.row_seconds or [0.0]) * 1000
        glass_ms = np.array(self.glass_seconds or [0.0]) * 1000
        return {"photos": self.photos, "row_top": round(self.row_top / n, 4),
                "row_any_of_3": round(self.row_any / n, 4),
                "row_top_widened": round(self.row_top_widened / n, 4),
                "glass_top": round(self.glass_top / n, 4),
                "row_ms_median": round(float(np.median(row_ms)), 1),
                "row_ms_p95": round(float(np.percentile(row_ms, 95)), 1),
                "glass_ms_median": round(float(np.median(glass_ms)), 1)}


def _row_holds(row: DigitRow, truth: np.ndarray) -> bool:
    """The labelled field lies inside the row image (2 % slack in height) and fills at least
    60 % of its height: the contract's digits-at-60 % with the field's padding and box."""
    h, w = row.image.shape[:2]
    to_row = cv2.getPerspectiveTransform(row.quad.astype(np.float32),
                                         np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32))
    f = cv2.perspectiveTransform(truth[None].astype(np.float32), to_row)[0]
    y0, y1 = min(f[0, 1], f[1, 1]), max(f[2, 1], f[3, 1])
    x0, x1 = min(f[0, 0], f[3, 0]), max(f[1, 0], f[2, 0])
    return bool(y0 >= -0.02 * h and y1 <= 1.02 * h and x0 >= 0 and x1 <= w and y1 - y0 >= 0.6 * h)


def _quad_holds(quad: np.ndarray, truth: np.ndarray) -> bool:
    """The labelled field lies inside the quadrilateral (a glass candidate)."""
    unit = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float32)
    f = cv2.perspectiveTransform(truth[None].astype(np.float32),
                                 cv2.getPerspectiveTransform(quad.astype(np.float32), unit))[0]
    return bool(f.min() >= 0 and f.max() <= 1)


@dataclass
class Tally:
    """Running totals for one reader."""

    exact: int = 0
    exact_sure: int = 0
    digit_errors: int = 0
    digits: int = 0
    tariff_right: int = 0
    tariffs: int = 0
    rejected: int = 0
    confident_wrong: int = 0
    confident_wrong_tariff: int = 0
    seconds: list[float] = field(default_factory=list)

    def add(self, label: Label, text: str | None, seconds: float, *, tariff: str | None = None,
            confident: bool = False) -> None:
        self.seconds.append(seconds)
        truth = label.text.replace(".", "")
        self.digits += len(truth)
        if text is None:
            self.rejected += 1
            self.digit_errors += len(truth)
        else:
            self.exact += text == label.text
            self.exact_sure += text == label.text and confident
            self.digit_errors += min(len(truth), _edit_distance(text.replace(".", ""), truth))
            if text != label.text and confident:
                self.confident_wrong += 1
        if label.tariff:
            self.tariffs += 1
            self.tariff_right += tariff == label.tariff
            self.confident_wrong_tariff += (text == label.text and confident and tariff is not None
                                            and tariff != label.tariff)

    def summary(self, with_tariff: bool) -> dict[str, object]:
        n = len(self.seconds)
        ms = np.array(self.seconds) * 1000.0
        out: dict[str, object] = {
            "images": n,
            "exact": round(self.exact / n, 4),
            "digits": round(1 - self.digit_errors / max(1, self.digits), 4),
            "rejected": round(self.rejected / n, 4),
            "ms_median": round(float(np.median(ms)), 1),
            "ms_p95": round(float(np.percentile(ms, 95)), 1),
        }
        if with_tariff:
            out["exact_and_sure"] = round(self.exact_sure / n, 4)
            out["tariff"] = round(self.tariff_right / self.tariffs, 4) if self.tariffs else None
            out["confident_wrong"] = self.confident_wrong
            out["confident_wrong_tariff"] = self.confident_wrong_tariff
        return out


def _edit_distance(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


def _labels(folder: Path, limit: int | None) -> list[Label]:
    with open(folder / "labels.csv", newline="") as fh:
        rows = [Label(r["file"], r["text"], r.get("tariff") or "", r.get("qr") or "",
                      _quad(r.get("field_quad") or ""))
                for r in csv.DictReader(fh)]
    return rows[:limit] if limit else rows


def _quad(text: str) -> np.ndarray | None:
    values = [float(v) for v in text.split()]
    return np.array(values, np.float32).reshape(4, 2) if len(values) == 8 else None


def _ours(path: Path, classifier: str = "both", method: str = "both"
          ) -> tuple[str | None, str | None, bool, tuple | None, str | None]:
    try:
        read = read_display(path, classifier=classifier, method=method)  # type: ignore[arg-type]
    except ReadError:
        return None, None, False, None, None
    return (read.text, read.tariff, not read.low_confidence, read.display_box,
            read.qr.raw if read.qr else None)


def _qr_alone(path: Path) -> str | None:
    try:
        return read_qr(path).raw
    except ReadError:
        return None


def _ssocr(path: Path) -> str | None:
    done = subprocess.run(["ssocr", "-d", "-1", "-T", "-c", "decimal", str(path)],
                          capture_output=True, text=True, timeout=30)
    text = done.stdout.strip()
    return text if done.returncode == 0 and text else None


def _tesseract(path: Path) -> str | None:
    done = subprocess.run(["tesseract", str(path), "stdout", "--psm", "7", "-c",
                           "tessedit_char_whitelist=0123456789."],
                          capture_output=True, text=True, timeout=30)
    text = re.sub(r"\s+", "", done.stdout)
    return text if done.returncode == 0 and text else None


def _tesseract_region(path: Path, box: tuple | None, scratch: Path) -> str | None:
    """Tesseract on the display region ours located (the whole image when it found none)."""
    if box is None:
        return _tesseract(path)
    image = cv2.imread(str(path))
    quad = np.array(box, np.float32)
    x0, y0 = np.maximum(quad.min(axis=0).astype(int), 0)
    x1, y1 = quad.max(axis=0).astype(int)
    region = scratch / "region.png"
    cv2.imwrite(str(region), image[y0:y1, x0:x1])
    text = _tesseract(region)
    return text if text and _READING.match(text) else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--no-baselines", action="store_true")
    parser.add_argument("--classifiers", action="store_true",
                        help="also report the line recognizer alone, the cell reader alone, "
                             "and the cell reader with each digit classifier alone")
    parser.add_argument("--second-opinion", action="store_true",
                        help="also report ours with tesseract consulted where ours is unsure")
    args = parser.parse_args(argv)
    labels = _labels(args.folder, args.limit)
    if not labels:
        parser.error(f"{args.folder}/labels.csv lists no images")
    baselines = not args.no_baselines
    for tool in ("ssocr", "tesseract") if baselines or args.second_opinion else ():
        if shutil.which(tool) is None:
            parser.error(f"{tool} is not installed (apt-get install {tool}-ocr / ssocr)")
    ours, ssocr, tess, second = Tally(), Tally(), Tally(), Tally()
    # name → (cell classifier, method)
    variants = {"line": ("both", "line"), "cells": ("both", "cells"),
                "cells:segments": ("segments", "cells"), "cells:model": ("model", "cells")}
    alone = {name: Tally() for name in variants}
    qr = {"labelled": 0, "decoded": 0, "false": 0}
    locate = LocateTally()
    with tempfile.TemporaryDirectory() as scratch:
        for label in labels:
            path = args.folder / label.file
            start = time.perf_counter()
            text, tariff, confident, box, code = _ours(path)
            elapsed = time.perf_counter() - start
            ours.add(label, text, elapsed, tariff=tariff, confident=confident)
            qr["labelled"] += bool(label.qr)
            if text is None:
                code = _qr_alone(path)  # a photo whose digits cannot be read may still give its code
            qr["decoded"] += bool(label.qr) and code == label.qr
            qr["false"] += not label.qr and code is not None
            if label.field_quad is not None:
                locate.add(path, label.field_quad)
            if args.classifiers:
                for name, tally in alone.items():
                    start = time.perf_counter()
                    a_text, a_tariff, a_conf, _, _ = _ours(path, *variants[name])
                    tally.add(label, a_text, time.perf_counter() - start, tariff=a_tariff,
                              confident=a_conf)
            if args.second_opinion:
                extra = 0.0
                final, final_conf = text, confident
                if text is None or not confident:
                    start = time.perf_counter()
                    opinion = _tesseract_region(path, box, Path(scratch))
                    extra = time.perf_counter() - start
                    # Refused: take tesseract's reading. Unsure: agreement makes it sure.
                    if text is None and opinion is not None:
                        final, final_conf = opinion, False
                    elif opinion is not None and opinion == text:
                        final_conf = True
                second.add(label, final, elapsed + extra, tariff=tariff, confident=final_conf)
            if baselines:
                start = time.perf_counter()
                s_text = _ssocr(path)
                ssocr.add(label, s_text, time.perf_counter() - start)
                start = time.perf_counter()
                t_text = _tesseract(path)
                tess.add(label, t_text, time.perf_counter() - start)
    report: dict[str, object] = {"folder": str(args.folder), "ours": ours.summary(True)}
    if args.classifiers:
        for name, tally in alone.items():
            report[f"ours:{name}"] = tally.summary(True)
    if args.second_opinion:
        report["ours+tesseract"] = second.summary(True)
    if baselines:
        report["ssocr"] = ssocr.summary(False)
        report["tesseract"] = tess.summary(False)
    report["qr"] = qr
    if locate.photos:
        report["locate"] = locate.summary()
    report["low_confidence_bar"] = LOW_CONFIDENCE
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
