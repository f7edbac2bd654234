"""Fixtures the command tests share."""

import datetime as dt

import pytest

from biller_server.cli import bills as bills_cli


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def bills_today(monkeypatch):
    """`bills` commands date bills from today in India: fixed at 2026-11-01, the day the sample files assume."""
    monkeypatch.setattr(bills_cli, "india_today", lambda: dt.date(2026, 11, 1))
