"""The Today page's chart: the day's collections by hour, one stacked bar per India-time hour and a colour per
channel, laid out here and drawn as SVG by the template (no script, nothing fetched)."""

from __future__ import annotations

from dataclasses import dataclass

from biller_server.console.format import indian_rupees
from biller_server.domain.reports.today import HourlyCollections

WIDTH, HEIGHT = 960, 260
LEFT, RIGHT, TOP, BOTTOM = 90, 10, 10, 30
COLOURS = ("#2364aa", "#e07a10", "#3a9d5d", "#9b3d9b", "#c0392b", "#5d6d7e")


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    colour: str
    title: str


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    plot_left: int
    plot_bottom: int
    plot_right: int
    bars: list[Bar]
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    legend: list[tuple[str, str]]  # (channel, colour)


def _nice_ceiling(paise: int) -> int:
    """The axis' top at or above ``paise``: 4, 8, 20, 40, 80, 200... rupees, so its quarter ticks read round."""
    step = 400
    while True:
        for factor in (1, 2, 5, 10):
            if paise <= step * factor:
                return step * factor
        step *= 10


def hourly_chart(collections: HourlyCollections) -> Chart:
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    peak = max((collections.hour_total(hour).amount_paise for hour in range(24)), default=0)
    top = _nice_ceiling(max(peak, 100))
    slot = plot_width / 24
    colours = {channel: COLOURS[index % len(COLOURS)] for index, channel in enumerate(collections.channels)}
    bars: list[Bar] = []
    for hour in range(24):
        base = HEIGHT - BOTTOM
        for channel in collections.channels:
            tally = collections.tally(hour, channel)
            if not tally.count:
                continue
            height = plot_height * tally.amount_paise / top
            base -= height
            bars.append(
                Bar(
                    x=round(LEFT + hour * slot + slot * 0.15, 2),
                    y=round(base, 2),
                    width=round(slot * 0.7, 2),
                    height=round(height, 2),
                    colour=colours[channel],
                    title=f"{hour:02d}:00-{hour:02d}:59 IST, {channel}: {tally.count} payment(s), "
                    f"₹{indian_rupees(tally.amount_paise)}",
                )
            )
    x_ticks = [Tick(round(LEFT + hour * slot + slot / 2, 2), f"{hour:02d}") for hour in range(0, 24, 2)]
    y_ticks = [
        Tick(round(HEIGHT - BOTTOM - plot_height * step / 4, 2), "₹" + indian_rupees(top * step // 4).split(".")[0])
        for step in range(5)
    ]
    return Chart(
        width=WIDTH,
        height=HEIGHT,
        plot_left=LEFT,
        plot_bottom=HEIGHT - BOTTOM,
        plot_right=WIDTH - RIGHT,
        bars=bars,
        x_ticks=x_ticks,
        y_ticks=y_ticks,
        legend=[(channel, colours[channel]) for channel in collections.channels],
    )
