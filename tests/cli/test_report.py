"""``biller-server report daily``: the same figures as the domain report, in the three formats."""

import csv
import datetime as dt
import io
import json

import pytest

from biller_server.cli import cli
from biller_server.cli import report as report_module
from tests.domain.reports.test_daily import build_fixture_day


def test_json_gives_exact_amounts_as_text_and_paise(app, session):
    build_fixture_day(session)

    result = app.test_cli_runner().invoke(cli, ["report", "daily", "--date", "2026-11-02", "--format", "json"])

    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["day"] == "2026-11-02"
    assert report["time_zone"] == "Asia/Kolkata"
    assert report["from"] == "2026-11-01T18:30:00+00:00"
    assert report["channels"]["total"]["received"] == {"count": 10, "amount": "6190.74", "amount_paise": 619_074}
    assert report["channels"]["digiledge"]["unresolved"] == {"count": 1, "amount": "750.25", "amount_paise": 75_025}
    reconciliation = report["reconciliation"]
    assert reconciliation["confirmed"]["amount"] == "4460.50"
    assert reconciliation["applied_to_bills"]["amount"] == "5680.75"
    assert reconciliation["difference"] == {"count": 3, "amount": "1220.25", "amount_paise": 122_025}
    assert [n["ref_id"] for n in reconciliation["held_notifications"]] == ["DL-UNKNOWN-1"]
    assert report["open_items_all_days"]["held_notifications"] == 2


def test_csv_has_one_figure_per_row(app, session):
    build_fixture_day(session)

    result = app.test_cli_runner().invoke(cli, ["report", "daily", "--date", "2026-11-02", "--format", "csv"])

    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.output)))
    assert rows[0] == ["section", "channel", "measure", "count", "amount"]
    assert ["payments", "kaleidofin", "pending", "2", "400.00"] in rows
    assert ["reconciliation", "total", "failed_still_applied", "1", "80.00"] in rows


def test_table_is_the_default(app, session):
    build_fixture_day(session)

    result = app.test_cli_runner().invoke(cli, ["report", "daily", "--date", "2026-11-02"])

    assert result.exit_code == 0, result.output
    assert "Daily report for 2026-11-02, India time (Asia/Kolkata)" in result.output
    assert "Reconciliation" in result.output


def test_a_bad_date_is_refused(app):
    result = app.test_cli_runner().invoke(cli, ["report", "daily", "--date", "02/11/2026"])

    assert result.exit_code == 2
    assert "YYYY" in result.output or "%Y-%m-%d" in result.output


@pytest.mark.parametrize(
    ("now", "yesterday_in_india"),
    [
        # 01:30 IST on 3 November, still 2 November in UTC: yesterday in India is 2 November, not 1 November.
        (dt.datetime(2026, 11, 2, 20, 0, tzinfo=dt.UTC), "2026-11-02"),
        # 23:30 IST on 2 November: yesterday in India is 1 November.
        (dt.datetime(2026, 11, 2, 18, 0, tzinfo=dt.UTC), "2026-11-01"),
        # 00:00 IST exactly on 3 November (18:30 UTC the day before): the new day has begun in India.
        (dt.datetime(2026, 11, 2, 18, 30, tzinfo=dt.UTC), "2026-11-02"),
    ],
    ids=["after-midnight-ist", "before-midnight-ist", "midnight-ist"],
)
def test_the_default_day_is_yesterday_in_india(app, session, monkeypatch, now, yesterday_in_india):
    build_fixture_day(session)
    monkeypatch.setattr(report_module, "utcnow", lambda: now)

    result = app.test_cli_runner().invoke(cli, ["report", "daily", "--format", "json"])

    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["day"] == yesterday_in_india
    assert report["generated_at"] == now.isoformat()
    explicit = app.test_cli_runner().invoke(cli, ["report", "daily", "--date", yesterday_in_india, "--format", "json"])
    assert report["channels"] == json.loads(explicit.output)["channels"]
    if yesterday_in_india == "2026-11-02":
        assert report["channels"]["total"]["received"]["count"] == 10  # the fixture's day
