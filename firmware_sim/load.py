"""The household a virtual meter measures: power over time, seeded and reproducible.

Power is constant within each ``step_s`` step of local time and follows a daily shape (low at
night, a morning and a larger evening peak) scaled to ``mean_w``, with seeded noise. The power of
step k is a pure function of (seed, k) — a hash, not a random stream — so the energy over any
interval is the same however often, and in whatever pieces, a reader asks for it. Energy comes
out in W·µs, an exact integer, so a meter can split it between tariffs without rounding.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

# A residential day, hour by hour (relative; scaled so the day's mean is ``mean_w``).
RESIDENTIAL_DAY = (0.45, 0.4, 0.38, 0.36, 0.36, 0.42, 0.7, 1.1, 1.25, 1.0, 0.85, 0.8,
                   0.85, 0.8, 0.75, 0.8, 0.95, 1.3, 1.65, 1.85, 1.75, 1.45, 1.05, 0.7)
FLAT_DAY = (1.0,) * 24
_MASK = (1 << 64) - 1


@dataclass(frozen=True)
class LoadProfile:
    """Power drawn through a meter; ``noise`` is the largest relative deviation of one step."""

    mean_w: int = 500
    seed: int = 0
    noise: float = 0.25
    step_s: int = 60
    shape: tuple[float, ...] = RESIDENTIAL_DAY

    def __post_init__(self) -> None:
        if not isinstance(self.mean_w, int) or self.mean_w < 0:
            raise ValueError(f"mean power must be a non-negative integer of W, got {self.mean_w!r}")
        if not 0 <= self.noise <= 1:
            raise ValueError(f"noise must be 0..1, got {self.noise!r}")
        if not isinstance(self.step_s, int) or self.step_s < 1 or 3600 % self.step_s:
            raise ValueError(f"step must be a whole number of seconds dividing an hour, "
                             f"got {self.step_s!r}")
        if len(self.shape) != 24 or min(self.shape) < 0 or sum(self.shape) <= 0:
            raise ValueError("a daily shape is 24 non-negative hourly factors, not all zero")

    @staticmethod
    def flat(power_w: int) -> LoadProfile:
        """A constant load, for tests that need energy computable by hand."""
        return LoadProfile(mean_w=power_w, noise=0.0, shape=FLAT_DAY)

    @cached_property
    def _hourly_w(self) -> tuple[float, ...]:
        total = sum(self.shape)
        return tuple(self.mean_w * 24 * f / total for f in self.shape)

    def power_w(self, local_us: int) -> int:
        """Power in W at ``local_us``, microseconds of local time since 1970-01-01T00:00."""
        return self._step_power(local_us // (self.step_s * 1_000_000))

    def energy_wus(self, start_us: int, end_us: int) -> int:
        """Energy in W·µs over [start_us, end_us) of local time; exact and additive."""
        step_us = self.step_s * 1_000_000
        total = 0
        at = start_us
        while at < end_us:
            step = at // step_us
            upto = min(end_us, (step + 1) * step_us)
            total += self._step_power(step) * (upto - at)
            at = upto
        return total

    def _step_power(self, step: int) -> int:
        hour = (step * self.step_s // 3600) % 24
        base = self._hourly_w[hour]
        if not self.noise:
            return round(base)
        unit = _splitmix64(self.seed * 0x9E3779B97F4A7C15 + step) / 2.0 ** 63 - 1.0  # [-1, 1)
        return max(0, round(base * (1.0 + self.noise * unit)))


def _splitmix64(x: int) -> int:
    """A well-mixed 64-bit hash (SplitMix64's finaliser): neighbouring steps look independent."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)
