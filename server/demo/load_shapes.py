"""Synthetic but realistic household load, rooftop solar and gas use for the demo customers.

The demo is only as convincing as its data: a bill comparison on a flat line teaches
nothing.  So a household here has an always-on base load, a morning and an evening peak
(later mornings and busier middays at weekends, more lighting on winter evenings), air
conditioning that follows the afternoon temperature, some electric heating on cold days,
appliances switched on at random times, and noise on every interval.  Temperatures come from
a seasonal cycle per climate plus weather that persists for days (an AR(1) anomaly).  Solar
follows the sun: day length and strength by season, cloudy days mostly in winter.  Gas is a
daily base (water heating, cooking) plus space heating by heating degree-days.

Everything draws from a ``random.Random`` the caller seeds, so a seed gives the same data
on every machine.  Values are kW per interval (or therms per day), not yet metered units.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from ._timeline import LocalDay

_YEAR = 365.25


def summerness(day_of_year: int) -> float:
    """0 in mid-January, 1 in mid-July: how far the year is toward summer."""
    return (1 - math.cos(2 * math.pi * (day_of_year - 20) / _YEAR)) / 2


@dataclass(frozen=True)
class Climate:
    """A place's temperatures: the seasonal cycle, the day's swing, the weather's spread."""

    name: str
    january_mean_c: float
    july_mean_c: float
    summer_swing_c: float  # daily max minus min in July (smaller in winter)
    winter_swing_c: float
    weather_spread_c: float  # standard deviation of the daily anomaly

    def daily_means(self, days: Sequence[LocalDay], rng: random.Random) -> list[float]:
        """Each day's mean temperature: the season plus a persistent anomaly."""
        means = []
        anomaly = 0.0
        persistence = 0.75
        shock = self.weather_spread_c * math.sqrt(1 - persistence**2)
        limit = 2.5 * self.weather_spread_c
        for day in days:
            anomaly = persistence * anomaly + rng.gauss(0.0, shock)
            anomaly = min(max(anomaly, -limit), limit)  # heat waves, not record-breakers
            season = summerness(day.day_of_year)
            means.append(
                self.january_mean_c + (self.july_mean_c - self.january_mean_c) * season + anomaly
            )
        return means

    def swing(self, day_of_year: int) -> float:
        season = summerness(day_of_year)
        return self.winter_swing_c + (self.summer_swing_c - self.winter_swing_c) * season


FRESNO = Climate("Fresno", 8.0, 28.5, 17.0, 9.0, 2.0)
SAN_MATEO = Climate("San Mateo", 10.0, 18.5, 11.0, 8.0, 1.8)
OAKLAND = Climate("Oakland", 10.5, 18.0, 9.0, 7.0, 1.8)
SAN_JOSE = Climate("San Jose", 10.5, 22.0, 14.0, 9.0, 2.0)


def hourly_temperature(mean_c: float, swing_c: float, hour: float) -> float:
    """Coolest near 05:00, warmest near 15:00 local time."""
    return mean_c + swing_c / 2 * math.cos(2 * math.pi * (hour - 15.0) / 24)


def _bump(hour: float, center: float, width: float) -> float:
    return math.exp(-0.5 * ((hour - center) / width) ** 2)


@dataclass(frozen=True)
class Household:
    """How one home uses energy; kW unless named otherwise."""

    base_kw: float = 0.20  # refrigerator, standby, network: always on
    morning_kw: float = 0.6
    evening_kw: float = 1.0
    daytime_kw: float = 0.20  # someone home on weekdays
    weekend_daytime_kw: float = 0.45
    cooling_kw_per_c: float = 0.0  # air conditioning per degree above the set point
    cooling_setpoint_c: float = 26.0
    cooling_max_kw: float = 2.8  # the compressor's size
    heating_kw_per_c: float = 0.0  # heat pump / space heaters per degree below the set point
    heating_setpoint_c: float = 14.0
    appliance_runs_per_day: float = 1.0  # dryer, oven, dishwasher: 1.5-2.5 kW for 30-75 min
    noise: float = 0.15  # lognormal spread of each interval
    solar_kw: float = 0.0  # rooftop PV, DC nameplate
    gas_base_therms: float = 0.0  # water heating and cooking, per day
    gas_therms_per_degree_day: float = 0.0  # space heating per heating degree-day (17 C)

    def occupancy_kw(self, hour: float, weekend: bool, winter: float) -> float:
        """Lights, cooking, electronics by the clock: the shape under the weather."""
        if weekend:
            morning = self.morning_kw * 0.9 * _bump(hour, 9.0, 1.4)
            daytime = self.weekend_daytime_kw * _bump(hour, 13.5, 2.8)
            evening = self.evening_kw * _bump(hour, 18.8, 1.8)
        else:
            morning = self.morning_kw * _bump(hour, 7.0, 0.9)
            daytime = self.daytime_kw * _bump(hour, 12.5, 2.5)
            evening = self.evening_kw * _bump(hour, 19.2, 1.6)
        return self.base_kw + morning + daytime + evening * (1 + 0.3 * winter)

    def electric_day(
        self, day: LocalDay, mean_c: float, swing_c: float, rng: random.Random
    ) -> list[float]:
        """kW in each 15-minute interval of ``day``."""
        winter = 1 - summerness(day.day_of_year)
        scale = math.exp(rng.gauss(0.0, 0.08))  # some days are just busier
        loads = []
        for hour in day.hours:
            load = self.occupancy_kw(hour, day.weekend, winter) * scale
            indoor_lag = hourly_temperature(mean_c, swing_c, hour - 1.5)
            if self.cooling_kw_per_c:
                # thermostat set back while at work and while asleep
                away = 0.55 if not day.weekend and 9 <= hour < 16 else 0.7 if hour < 6 else 1.0
                cooling = self.cooling_kw_per_c * (indoor_lag - self.cooling_setpoint_c) * away
                load += min(max(cooling, 0.0), self.cooling_max_kw)
            if self.heating_kw_per_c:
                night = 0.5 if hour < 6 or hour >= 23 else 1.0
                load += (
                    max(self.heating_setpoint_c - indoor_lag, 0.0) * self.heating_kw_per_c * night
                )
            loads.append(load * math.exp(rng.gauss(0.0, self.noise)))
        self._appliances(loads, day, rng)
        return loads

    def _appliances(self, loads: list[float], day: LocalDay, rng: random.Random) -> None:
        runs = self.appliance_runs_per_day * (1.4 if day.weekend else 1.0)
        count = int(runs) + (1 if rng.random() < runs - int(runs) else 0)
        for _ in range(count):
            start_hour = rng.choice((7.5, 8.0, 10.0, 12.0, 17.5, 18.0, 19.0, 20.0, 21.0))
            start = min(int(start_hour * 4) + rng.randrange(-2, 3), len(loads) - 1)
            power = rng.uniform(1.5, 2.5)
            for slot in range(start, min(start + rng.randrange(2, 6), len(loads))):
                loads[slot] += power

    def gas_day(self, mean_c: float, day_of_year: int, rng: random.Random) -> float:
        """Therms used on a day with mean temperature ``mean_c``."""
        winter = 1 - summerness(day_of_year)
        degree_days = max(17.0 - mean_c, 0.0)
        therms = self.gas_base_therms * (1 + 0.2 * winter)
        therms += self.gas_therms_per_degree_day * degree_days
        return therms * math.exp(rng.gauss(0.0, 0.1))


def cloud_factor(day_of_year: int, rng: random.Random) -> float:
    """The share of clear-sky output a day gets: California summers are nearly cloudless."""
    winter = 1 - summerness(day_of_year)
    if rng.random() < 0.35 * winter:
        return rng.uniform(0.2, 0.6)
    return rng.uniform(0.85, 1.0)


def solar_day(capacity_kw: float, day: LocalDay, clouds: float) -> list[float]:
    """AC kW from ``capacity_kw`` of PV in each interval (centred on the interval)."""
    doy = day.day_of_year
    length = 12.0 + 2.4 * math.sin(2 * math.pi * (doy - 80) / _YEAR)  # hours, latitude ~37 N
    sunrise = 12.1 - length / 2  # solar noon ~12:06 standard time in the Bay Area
    strength = (0.62 + 0.38 * summerness(doy)) * 0.82 * clouds  # sun height, inverter, soiling
    output = []
    for hour in day.standard_hours:
        position = (hour + 0.125 - sunrise) / length
        if 0.0 < position < 1.0:
            output.append(capacity_kw * strength * math.sin(math.pi * position) ** 1.3)
        else:
            output.append(0.0)
    return output
