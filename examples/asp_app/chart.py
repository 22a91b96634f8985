"""The bill comparison as a bar chart: geometry computed here, drawn as inline SVG by
``templates/_chart.html``.  No JavaScript, no chart library, nothing for a CSP to block.

One horizontal bar per rate estimate, its length proportional to the estimated annual cost
(from zero, so a 3 % difference looks like 3 %); the current rate is highlighted and every
other bar says what it would save (or cost) a year compared with it.
"""

from __future__ import annotations

from dataclasses import dataclass

from espi_sst.model import sst

WIDTH = 800  # the SVG's viewBox; CSS scales it to the page
LABEL_WIDTH = 180  # tariff codes left of the bars
AMOUNT_WIDTH = 300  # annual amount and savings right of the longest bar
ROW = 44
BAR = 26
TOP = 8


@dataclass(frozen=True)
class Bar:
    tariff_code: str
    tariff_name: str
    amount: str  # "$2,936 a year"
    note: str  # "your rate now", "saves $104 a year", "$10 more a year"
    current: bool
    saves: bool
    savings: float  # a year versus the current rate; negative: costs more
    x: float
    y: float
    width: float
    height: float

    @property
    def text_y(self) -> float:
        return self.y + self.height / 2 + 5  # baseline that centres 14px text on the bar


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]

    @property
    def best(self) -> Bar | None:
        """The rate that saves the most, None when the current rate is the cheapest."""
        savers = [bar for bar in self.bars if bar.saves]
        return max(savers, key=lambda bar: bar.savings, default=None)


def money(amount: float) -> str:
    return f"${amount:,.0f}"


def bill_chart(comparison: sst.BillComparison) -> Chart | None:
    """The chart of an available comparison, None when there is nothing to draw."""
    estimates = [e for e in comparison.rate_estimate if e.annual_cost_amount is not None]
    if not estimates:
        return None
    longest = max(e.annual_cost_amount or 0.0 for e in estimates) or 1.0
    room = WIDTH - LABEL_WIDTH - AMOUNT_WIDTH
    bars = []
    for row, estimate in enumerate(estimates):
        cost = estimate.annual_cost_amount or 0.0
        savings = (estimate.savings_versus_current or 0) / 100_000  # positive: cheaper
        if estimate.is_current:
            note = "your rate now"
        elif savings >= 0.5:
            note = f"saves {money(savings)} a year"
        elif savings <= -0.5:
            note = f"{money(-savings)} more a year"
        else:
            note = "about the same"
        bars.append(
            Bar(
                tariff_code=estimate.tariff_code or str(estimate.rin),
                tariff_name=estimate.tariff_name or "",
                amount=f"{money(cost)} a year",
                note=note,
                current=bool(estimate.is_current),
                saves=not estimate.is_current and savings >= 0.5,
                savings=savings,
                x=LABEL_WIDTH,
                y=TOP + row * ROW,
                width=max(2.0, round(room * cost / longest, 1)),
                height=BAR,
            )
        )
    return Chart(WIDTH, TOP * 2 + ROW * len(bars), bars)
