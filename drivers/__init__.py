"""Meter access: register codecs, meter models as data, read plans and the Modbus transport.

Knows nothing of readings, brokers or accounting; ``collector`` turns what it returns into readings.
The Modbus transport (``Bus``, ``rtu_bus``, ``tcp_bus``, ``read_meter``) is imported from
``drivers.modbus`` by those who poll, so that importing ``drivers`` (or ``drivers.errors``, as
every package does) does not load pymodbus.
"""

from drivers.codec import decode_value
from drivers.plan import Block, InvalidValue, ReadPlan
from drivers.profile import Register, RegisterMap, list_profiles, load_profile, parse_profile

__all__ = ["Block", "InvalidValue", "ReadPlan", "Register", "RegisterMap", "decode_value",
           "list_profiles", "load_profile", "parse_profile"]
