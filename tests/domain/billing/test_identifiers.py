"""One rule for the identifiers every channel accepts (Kaleidofin's identifierKey, Digiledge's customerParams)."""

import pytest

from biller_server.domain.billing.identifiers import IdentifierProblem, IdentifiersRefused, resolve_identifiers

ACCEPTED = {"customerId": "customer_id", "Loan Account Number": "loan_account_number", "name": "name"}


def resolve(*pairs, limit=10, ignore_spaces=False):
    return resolve_identifiers(list(pairs), ACCEPTED, limit=limit, ignore_spaces=ignore_spaces)


def refusal(*pairs, **kwargs) -> IdentifiersRefused:
    with pytest.raises(IdentifiersRefused) as excinfo:
        resolve(*pairs, **kwargs)
    return excinfo.value


def test_names_match_ignoring_case_and_values_are_trimmed():
    assert resolve(("CUSTOMERID", "  AY1234 "), (" Name ", "Vishakha")) == {"customer_id": "AY1234", "name": "Vishakha"}


def test_spaces_inside_a_name_matter_unless_the_channel_ignores_them():
    assert refusal(("customer id", "AY1234")).problem is IdentifierProblem.UNKNOWN_NAME
    assert resolve(("customer id", "AY1234"), ignore_spaces=True) == {"customer_id": "AY1234"}
    assert resolve(("LOANACCOUNTNUMBER", "LAN-1"), ignore_spaces=True) == {"loan_account_number": "LAN-1"}


def test_no_identifier_is_refused():
    assert refusal().problem is IdentifierProblem.NONE_GIVEN


def test_more_than_the_limit_is_refused():
    refused = refusal(("customerId", "A"), ("name", "B"), limit=1)
    assert (refused.problem, refused.limit) == (IdentifierProblem.TOO_MANY, 1)


def test_an_unknown_name_is_refused_naming_it_and_what_is_accepted():
    refused = refusal(("favouriteColour ", "blue"))
    assert (refused.problem, refused.name) == (IdentifierProblem.UNKNOWN_NAME, "favouriteColour")
    assert refused.accepted == ("customerid", "loan account number", "name")


def test_an_empty_value_is_refused():
    refused = refusal(("customerId", "   "))
    assert (refused.problem, refused.name) == (IdentifierProblem.EMPTY_VALUE, "customerId")


def test_one_meaning_with_two_values_is_refused_and_the_same_value_twice_is_not():
    assert resolve(("customerId", "A"), ("CustomerID", " A")) == {"customer_id": "A"}
    refused = refusal(("customerId", "A"), ("customerid", "B"))
    assert (refused.problem, refused.meaning) == (IdentifierProblem.TWO_VALUES, "customer_id")
