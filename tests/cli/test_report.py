"""``biller-server report daily``: the same figures as the domain report, in the three formats."""

import csv
import io
import json

from biller_server.cli import cli
from tests.domain.test_reports import build_fixture_day


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
