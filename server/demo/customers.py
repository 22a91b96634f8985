"""The demo utility's four customers: one of each case the SST has to get right.

* **alex** -- bundled PG&E service on E-TOU-C in hot Fresno: air conditioning drives summer
  afternoons (the customer a time-of-use comparison matters most to); Alex chose E-TOU-C
  eight months ago (from E-1), so another change meets the 12-month restriction;
* **blake** -- unbundled: PG&E delivers (E-TOU-C delivery-only), Peninsula Clean Energy
  generates (its E-TOU-C mirror), so two RINs and two tariffs;
* **casey** -- bundled E-1 tiered electricity plus a PG&E gas account: two usage points;
* **dana** -- rooftop solar on E-ELEC (the Net Billing Tariff requires it): the meter
  records delivered and received energy separately.  Dana chose text messages for
  rate-change passcodes (concept design 7.6): they arrive at the demo's SMS inbox.

Names, addresses and account numbers are invented.  Passwords are derived from the seed so
the demo can print them; a seeded database is a demo, never a production custodian.
"""

from __future__ import annotations

from dataclasses import dataclass

from .load_shapes import FRESNO, OAKLAND, SAN_JOSE, SAN_MATEO, Climate, Household


@dataclass(frozen=True)
class CustomerSpec:
    username: str
    display_name: str
    email: str
    service_address: str
    kinds: tuple[str, ...]  # bundled | unbundled | gas | solar; the first is the main one
    climate: Climate
    household: Household
    baseline_territory: str  # PG&E baseline territory (tier allowances)
    read_day: int  # the meter read day, 1-28: billing cycles start on it
    tariff: str  # tariff code of the electric usage point
    generation_tariff: str | None = None  # unbundled: the CCA's generation rate
    lse: str = "PGE"
    gas: bool = False
    on_rate_months: int = 24  # on its current rate since this many months before the data
    # A voluntary change inside the data: from this tariff, this many months before the
    # data's last billing cycle (bills before it are on the old rate; 12-month restriction).
    switched_from: str | None = None
    switched_months_ago: int = 0
    features: tuple[str, ...] = ()  # premise features some rates require: ev, heat_pump, solar
    # Imperfections, as days before the end of the data (None: none).
    estimated_electric_day: int | None = None  # estimated from a reference day (quality 8)
    estimated_gas_day: int | None = None  # interpolated from the neighbouring days (quality 9)
    interpolated_gap_day: int | None = None  # 4 intervals linearly interpolated (quality 9)
    phone: str | None = None  # a mobile number, E.164 (555-01xx: reserved for fiction)
    passcode_channel: str = "email"  # where rate-change passcodes go: email | sms

    def password(self, seed: int) -> str:
        return f"demo-{self.username}-{seed}"


UDC = "PGE"  # Pacific Gas and Electric, the utility distribution company
CCA = "PCE"  # Peninsula Clean Energy

CUSTOMERS: tuple[CustomerSpec, ...] = (
    CustomerSpec(
        username="alex",
        display_name="Alex Rivera",
        email="alex.rivera@example.com",
        service_address="2417 E Olive Ave, Fresno, CA 93701",
        kinds=("bundled",),
        climate=FRESNO,
        household=Household(
            base_kw=0.24,
            evening_kw=1.1,
            cooling_kw_per_c=0.20,
            cooling_max_kw=2.3,
            heating_kw_per_c=0.04,
        ),
        baseline_territory="R",
        read_day=5,
        tariff="E-TOU-C",
        switched_from="E-1",  # chose E-TOU-C 8 months ago: no other change for 4 more
        switched_months_ago=8,
        features=("heat_pump",),  # heat-pump air conditioning: E-ELEC is open to Alex
        estimated_electric_day=45,
    ),
    CustomerSpec(
        username="blake",
        display_name="Blake Chen",
        email="blake.chen@example.com",
        service_address="318 Hillcrest Dr, San Mateo, CA 94402",
        kinds=("unbundled",),
        climate=SAN_MATEO,
        household=Household(base_kw=0.22, morning_kw=0.6, evening_kw=1.0, heating_kw_per_c=0.08),
        baseline_territory="T",
        read_day=12,
        tariff="E-TOU-C-DELIVERY",
        generation_tariff="PCE-E-TOU-C",
        lse=CCA,
        on_rate_months=30,
        interpolated_gap_day=80,
    ),
    CustomerSpec(
        username="casey",
        display_name="Casey Nguyen",
        email="casey.nguyen@example.com",
        service_address="5120 Claremont Ave, Oakland, CA 94618",
        kinds=("gas", "bundled"),
        climate=OAKLAND,
        household=Household(
            base_kw=0.18,
            morning_kw=0.5,
            evening_kw=0.9,
            heating_kw_per_c=0.02,  # the gas furnace's fan
            gas_base_therms=0.45,
            gas_therms_per_degree_day=0.22,
        ),
        baseline_territory="X",
        read_day=20,
        tariff="E-1",
        gas=True,
        on_rate_months=60,
        estimated_gas_day=120,
    ),
    CustomerSpec(
        username="dana",
        display_name="Dana Okafor",
        email="dana.okafor@example.com",
        service_address="1775 Dry Creek Rd, San Jose, CA 95125",
        kinds=("solar", "bundled"),
        climate=SAN_JOSE,
        household=Household(
            base_kw=0.35,
            evening_kw=1.3,
            cooling_kw_per_c=0.15,
            heating_kw_per_c=0.08,  # heat pump
            solar_kw=6.0,
        ),
        baseline_territory="X",
        read_day=27,
        tariff="E-ELEC",
        on_rate_months=14,  # since the solar system was connected
        features=("solar", "heat_pump"),  # Net Billing: time-of-use rates only
        phone="+14085550175",
        passcode_channel="sms",  # passcodes by text message (shown at /demo/sms)
    ),
)
