"""Virtual meters for tests and demos: multi-tariff meters that speak real Modbus.

A ``VirtualMeter`` counts energy from a seeded load profile into tariff registers chosen by a
``TariffClock``, on a ``ManualClock`` or an ``AcceleratedClock``; a ``SimServer`` serves many of
them by unit id on one TCP port or one pseudo-terminal through pymodbus, with per-unit
``Fault`` injection and RS-485 wire-time emulation. ``meterlink sim --config sim.toml`` runs a
``SimConfig``. The LCD renderer (photos of a meter's display) lives in ``firmware_sim.lcd``.
"""

from firmware_sim.clock import AcceleratedClock, ManualClock, SimClock
from firmware_sim.config import MeterConfig, SimConfig, load_sim_config, parse_sim_config, serve
from firmware_sim.faults import FAULT_KINDS, Fault
from firmware_sim.line import (
    READ_REQUEST_BYTES,
    char_time,
    read_reply_bytes,
    reply_latency,
    silence_time,
    transaction_time,
)
from firmware_sim.load import LoadProfile
from firmware_sim.meter import MeterState, VirtualMeter
from firmware_sim.registers import encode_value
from firmware_sim.server import SimServer
from firmware_sim.tariff import TariffClock, TariffSegment, TariffZone

__all__ = [
    "AcceleratedClock", "FAULT_KINDS", "Fault", "LoadProfile", "ManualClock", "MeterConfig",
    "MeterState", "READ_REQUEST_BYTES", "SimClock", "SimConfig", "SimServer", "TariffClock",
    "TariffSegment", "TariffZone", "VirtualMeter", "char_time", "encode_value",
    "load_sim_config", "parse_sim_config", "read_reply_bytes", "reply_latency", "serve",
    "silence_time", "transaction_time",
]
