"""Money and time as the console writes them: Indian grouping to the paisa, India time; the chart's layout."""

import datetime as dt

import pytest

from biller_server.console.chart import hourly_chart
from biller_server.console.format import india_time, indian_rupees
from biller_server.domain.reports.daily import Tally
from biller_server.domain.reports.today import HourlyCollections


@pytest.mark.parametrize(
    ("paise", "text"),
    [
        (0, "0.00"),
        (5, "0.05"),
        (99_999, "999.99"),
        (100_000, "1,000.00"),
        (125_000_050, "12,50,000.50"),
        (10_000_000_000, "10,00,00,000.00"),
        (-125_000_050, "-12,50,000.50"),
    ],
)
def test_rupees_are_grouped_the_indian_way_to_the_paisa(paise, text):
    assert indian_rupees(paise) == text


def test_times_are_shown_in_india_time():
    assert india_time(dt.datetime(2026, 11, 1, 18, 30, tzinfo=dt.UTC)) == "2026-11-02 00:00:00 IST"
    assert india_time(None) == "-"


def test_the_chart_stacks_each_hour_s_channels_and_its_axis_reads_round():
    collections = HourlyCollections(
        day=dt.date(2026, 11, 2),
        channels=["kaleidofin", "digiledge"],
        hours={10: {"kaleidofin": Tally(2, 300_000), "digiledge": Tally(1, 100_000)}},
    )

    chart = hourly_chart(collections)

    kaleidofin, digiledge = chart.bars
    assert kaleidofin.x == digiledge.x
    assert digiledge.y + digiledge.height == pytest.approx(kaleidofin.y)  # stacked
    assert kaleidofin.height == pytest.approx(3 * digiledge.height)
    assert [tick.label for tick in chart.y_ticks] == ["₹0", "₹1,000", "₹2,000", "₹3,000", "₹4,000"]
    assert kaleidofin.title == "10:00-10:59 IST, kaleidofin: 2 payment(s), ₹3,000.00"
