"""Meter models as data: ``drivers/profiles/<model>.toml`` parsed into a frozen ``RegisterMap``.

Adding a meter adds a file and its golden-vector test, never a class. A profile is validated
once, at load, and every error names the file and the key, so a user copying ``generic.toml``
learns exactly what to fix. A profile looks like::

    [meter]
    model = "abb-b23"
    title = "ABB B23 112-100"
    vendor = "ABB"
    document = "ABB B23/B24 User Manual 2CMC485003M0201, ch. Modbus"  # where the registers come from
    function = 3            # default function code: 3 holding, 4 input
    word_order = "big"      # default for multi-word values (see drivers.codec)
    max_registers = 125     # per request; some meters accept fewer
    max_gap = 8             # unused registers bridged to save a request

    [[register]]
    quantity = "energy.import.total"
    address = 0x5000        # protocol address (0-based), as on the wire
    type = "u64"
    scale = "10"            # base units (Wh, W, V, A, Hz) per raw unit; an integer or "p/q"

Energy scaled from an integer register must land on whole Wh (an exact ``Fraction``); from a
float register it is rounded to the nearest Wh (``round``, half to even) — the only place a
float meets energy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

from drivers.codec import TYPE_WORDS, WORD_ORDERS, RegisterType, WordOrder
from drivers.errors import ConfigError
from drivers.tomlfile import parse_toml, read_text

QUANTITY = re.compile(
    r"^(energy\.(import|export)\.(total|t[1-4])"
    r"|serial"
    r"|power\.active\.(total|l[1-3])"
    r"|voltage\.l[1-3]"
    r"|current\.l[1-3]"
    r"|frequency)$"
)
_MODEL = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_MAX_REGISTERS = 125


@dataclass(frozen=True)
class Register:
    """One value a meter exposes: where it is, how it is encoded, and what it means."""

    quantity: str
    address: int
    type: RegisterType
    function: int
    word_order: WordOrder
    scale: Fraction
    invalid: int | None = None  # raw value the meter uses for "not available"

    @property
    def words(self) -> int:
        return TYPE_WORDS[self.type]

    @property
    def is_energy(self) -> bool:
        return self.quantity.startswith("energy.")


@dataclass(frozen=True)
class RegisterMap:
    """A validated meter model; ``registers`` keeps file order."""

    model: str
    title: str
    vendor: str
    document: str
    registers: tuple[Register, ...]
    max_registers: int = _MAX_REGISTERS
    max_gap: int = 8
    path: str = field(default="", compare=False)

    def register(self, quantity: str) -> Register:
        for reg in self.registers:
            if reg.quantity == quantity:
                return reg
        raise KeyError(quantity)

    @property
    def quantities(self) -> tuple[str, ...]:
        return tuple(r.quantity for r in self.registers)

    @property
    def tariffs(self) -> int:
        """How many import tariff registers (T1..T4) the model has."""
        return sum(1 for q in self.quantities if re.fullmatch(r"energy\.import\.t[1-4]", q))

    def describe(self) -> str:
        """What ``meterlink profiles MODEL`` prints: the registers, then the requests of one poll."""
        # Imported here: plan.py builds on this module, so a top-level import would be circular.
        from drivers.plan import ReadPlan

        lines = [f"{self.model}: {self.title}", f"  vendor:   {self.vendor}",
                 f"  document: {self.document}", "  registers:"]
        for reg in self.registers:
            lines.append(f"    {reg.quantity:22} fc{reg.function} @{reg.address:<5} "
                         f"(0x{reg.address:04X}) {reg.type:4} {reg.word_order:8} ×{reg.scale}")
        plan = ReadPlan.for_map(self)
        lines.append(f"  read plan: {len(plan.blocks)} request(s) per poll, at most "
                     f"{self.max_registers} registers each, gaps up to {self.max_gap} bridged")
        for block in plan.blocks:
            names = ", ".join(r.quantity for r in block.registers)
            lines.append(f"    fc{block.function} @{block.address:<5} (0x{block.address:04X}) "
                         f"count {block.count:<3} {names}")
        return "\n".join(lines)


def _profiles_dir() -> Path:
    return Path(str(resources.files("drivers") / "profiles"))


def list_profiles(extra_dirs: tuple[Path, ...] = ()) -> list[str]:
    """Names of every shipped model, then those found in ``extra_dirs``."""
    names = {p.stem for d in (_profiles_dir(), *extra_dirs) for p in Path(d).glob("*.toml")}
    return sorted(names)


def load_profile(name_or_path: str | Path, extra_dirs: tuple[Path, ...] = ()) -> RegisterMap:
    """Load a model by name (shipped or in ``extra_dirs``) or by the path of a TOML file."""
    path = Path(name_or_path)
    if path.suffix != ".toml":
        for directory in (*extra_dirs, _profiles_dir()):
            candidate = Path(directory) / f"{name_or_path}.toml"
            if candidate.is_file():
                path = candidate
                break
        else:
            known = ", ".join(list_profiles(extra_dirs))
            raise ConfigError(f"unknown meter model {str(name_or_path)!r} (known: {known})")
    return parse_profile(read_text(path), file=str(path))


def parse_profile(text: str, *, file: str = "<profile>") -> RegisterMap:
    doc = parse_toml(text, file)
    meter = _table(doc, "meter", file)
    _reject_unknown(meter, {"model", "title", "vendor", "document", "function", "word_order",
                            "max_registers", "max_gap"}, "meter", file)
    model = _get(meter, "model", str, "meter", file)
    if not _MODEL.match(model):
        raise ConfigError("must be lower-case letters, digits, '.', '_' or '-'", file=file,
                          key="meter.model")
    function = meter.get("function", 3)
    word_order = meter.get("word_order", "big")
    max_registers = meter.get("max_registers", _MAX_REGISTERS)
    if not isinstance(max_registers, int) or not 1 <= max_registers <= _MAX_REGISTERS:
        raise ConfigError(f"must be an integer 1..{_MAX_REGISTERS}", file=file,
                          key="meter.max_registers")
    max_gap = meter.get("max_gap", 8)
    if not isinstance(max_gap, int) or max_gap < 0:
        raise ConfigError("must be a non-negative integer", file=file, key="meter.max_gap")

    entries = doc.get("register")
    if not isinstance(entries, list) or not entries:
        raise ConfigError("a profile needs at least one [[register]]", file=file, key="register")
    registers = tuple(
        _parse_register(entry, i, function, word_order, file) for i, entry in enumerate(entries)
    )
    _check_registers(registers, file)
    return RegisterMap(
        model=model,
        title=_get(meter, "title", str, "meter", file),
        vendor=_get(meter, "vendor", str, "meter", file),
        document=_get(meter, "document", str, "meter", file),
        registers=registers,
        max_registers=max_registers,
        max_gap=max_gap,
        path=file,
    )


def _parse_register(entry: Any, index: int, function: Any, word_order: Any,
                    file: str) -> Register:
    where = f"register[{index}]"
    if not isinstance(entry, dict):
        raise ConfigError("must be a table", file=file, key=where)
    _reject_unknown(entry, {"quantity", "address", "type", "function", "word_order", "scale",
                            "invalid"}, where, file)
    quantity = _get(entry, "quantity", str, where, file)
    if not QUANTITY.match(quantity):
        raise ConfigError(f"unknown quantity {quantity!r}", file=file, key=f"{where}.quantity")
    where = f"register[{index}] ({quantity})"
    address = _get(entry, "address", int, where, file)
    if not 0 <= address <= 0xFFFF:
        raise ConfigError("must be 0..65535", file=file, key=f"{where}.address")
    kind = _get(entry, "type", str, where, file)
    if kind not in TYPE_WORDS:
        raise ConfigError(f"unknown type {kind!r} (one of {', '.join(TYPE_WORDS)})", file=file,
                          key=f"{where}.type")
    fc = entry.get("function", function)
    if fc not in (3, 4):
        raise ConfigError(f"function must be 3 (holding) or 4 (input), got {fc!r}", file=file,
                          key=f"{where}.function")
    order = entry.get("word_order", word_order)
    if order not in WORD_ORDERS:
        raise ConfigError(f"word_order must be one of {', '.join(WORD_ORDERS)}, got {order!r}",
                          file=file, key=f"{where}.word_order")
    if address + TYPE_WORDS[kind] - 1 > 0xFFFF:
        raise ConfigError("value runs past register 65535", file=file, key=f"{where}.address")
    scale = _parse_scale(entry.get("scale", 1), f"{where}.scale", file)
    invalid = entry.get("invalid")
    if invalid is not None and (not isinstance(invalid, int) or isinstance(invalid, bool)):
        raise ConfigError("must be the integer raw value", file=file, key=f"{where}.invalid")
    if quantity == "serial" and kind.startswith("f"):
        raise ConfigError("a serial number cannot be a float", file=file, key=f"{where}.type")
    if quantity.startswith("energy.") and not kind.startswith("f") and scale.denominator != 1:
        raise ConfigError("an integer energy register needs a whole number of Wh per unit",
                          file=file, key=f"{where}.scale")
    return Register(quantity, address, kind, fc, order, scale, invalid)  # type: ignore[arg-type]


def _parse_scale(value: Any, key: str, file: str) -> Fraction:
    try:
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ValueError
        scale = Fraction(value)
    except (ValueError, ZeroDivisionError):
        raise ConfigError(f"must be an integer or a \"p/q\" string, got {value!r}", file=file,
                          key=key) from None
    if scale <= 0:
        raise ConfigError("must be positive", file=file, key=key)
    return scale


def _check_registers(registers: tuple[Register, ...], file: str) -> None:
    seen: dict[str, int] = {}
    used: dict[tuple[int, int], str] = {}
    for reg in registers:
        if reg.quantity in seen:
            raise ConfigError("quantity listed twice", file=file, key=f"register ({reg.quantity})")
        seen[reg.quantity] = reg.address
        for offset in range(reg.words):
            slot = (reg.function, reg.address + offset)
            if slot in used:
                raise ConfigError(f"overlaps {used[slot]} at register {slot[1]}", file=file,
                                  key=f"register ({reg.quantity}).address")
            used[slot] = reg.quantity
    if not any(q.startswith("energy.import.") for q in seen):
        raise ConfigError("a meter profile needs at least one energy.import register", file=file,
                          key="register")


def _table(doc: Mapping[str, Any], name: str, file: str) -> Mapping[str, Any]:
    table = doc.get(name)
    if not isinstance(table, dict):
        raise ConfigError(f"missing [{name}] table", file=file, key=name)
    return table


def _get(table: Mapping[str, Any], key: str, kind: type, where: str, file: str) -> Any:
    if key not in table:
        raise ConfigError("missing", file=file, key=f"{where}.{key}")
    value = table[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ConfigError(f"must be {kind.__name__}, got {value!r}", file=file,
                          key=f"{where}.{key}")
    return value


def _reject_unknown(table: Mapping[str, Any], allowed: set[str], where: str, file: str) -> None:
    for key in table:
        if key not in allowed:
            raise ConfigError(f"unknown key (allowed: {', '.join(sorted(allowed))})", file=file,
                              key=f"{where}.{key}")
