import json
from decimal import Decimal

import pytest

from biller_server.domain.money import (
    AmountError,
    paise_from_rupees,
    paise_from_rupees_text,
    rupees_json,
    rupees_text,
)


@pytest.mark.parametrize(("text", "paise"), [("1000", 100_000), ("1000.5", 100_050), ("0.01", 1), (" 12.30 ", 1230)])
def test_rupee_text_becomes_paise(text, paise):
    assert paise_from_rupees_text(text) == paise


@pytest.mark.parametrize("text", ["1000.505", "-5", "1e3", "1,000", "", "abc", "NaN", "12.", ".5"])
def test_malformed_rupee_text_is_refused(text):
    with pytest.raises(AmountError):
        paise_from_rupees_text(text)


def test_more_than_two_decimals_says_so():
    with pytest.raises(AmountError, match="more than two decimals"):
        paise_from_rupees_text("10.123")


@pytest.mark.parametrize(("value", "paise"), [(1000, 100_000), (Decimal("1000.50"), 100_050), (Decimal("-1"), -100)])
def test_exact_numbers_become_paise(value, paise):
    assert paise_from_rupees(value) == paise


@pytest.mark.parametrize(
    "value", [Decimal("1.001"), Decimal("NaN"), Decimal("Infinity"), Decimal("1e309"), 10**14, True, 1.5, "10"]
)
def test_inexact_or_absurd_numbers_are_refused(value):
    with pytest.raises(AmountError):
        paise_from_rupees(value)


def test_rendered_json_numbers_read_back_exactly():
    samples = [1, 99, 100, 101, 12_345, 100_050, 999_999_999, 123_456_789_012, 999_999_999_999_99]
    samples += list(range(0, 100_000, 7))
    for paise in samples:
        text = json.dumps(rupees_json(paise))
        assert json.loads(text, parse_float=Decimal) * 100 == paise, text


def test_whole_rupees_render_as_integers():
    assert json.dumps(rupees_json(100_000)) == "1000"


def test_rupees_text_has_two_decimals():
    assert rupees_text(100_050) == "1000.50"
    assert rupees_text(5) == "0.05"


@pytest.mark.parametrize("text", ["1e999999999", "-1e999999999", "1E+100000"])
def test_amounts_too_large_for_any_arithmetic_are_refused_not_crashed(text):
    with pytest.raises(AmountError, match="too large"):
        paise_from_rupees(Decimal(text))


def test_tiny_exponents_still_need_two_decimals():
    with pytest.raises(AmountError, match="more than two decimals"):
        paise_from_rupees(Decimal("1e-999999999"))


@pytest.mark.parametrize(
    "text",
    [
        "\uff11\uff10\uff10\uff10.\uff10\uff10",  # full-width "1000.00"
        "\u0967\u0966\u0966\u0966.\u0966\u0966",  # Devanagari
        "\u0661\u0660\u0660\u0660",  # Arabic-Indic
        "1\u0966\u0966\u0966",  # one script mixed into another
        "10.\u0661\u0662",
        "10.1\u0662\u0663",  # refused as not an amount, not as "more than two decimals"
    ],
)
def test_rupee_text_takes_the_digits_0_to_9_only(text):
    with pytest.raises(AmountError, match="is not an amount"):
        paise_from_rupees_text(text)
