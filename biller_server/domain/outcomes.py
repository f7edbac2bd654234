"""A payment's outcome in the biller's own words, whatever words the partner that reported it used.

Partner clients translate their answers into it (biller_server/clients/), push notifications their verdicts, and
``domain.payments.outcomes`` applies it to the books.
"""

from __future__ import annotations

import enum


class Outcome(enum.StrEnum):
    """A payment's outcome as a partner reports it, whatever words the partner uses."""

    PENDING = "pending"  # the partner is still working on it: ask again later
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    NOT_FOUND = "not_found"  # the partner has no record of it (yet)

    @property
    def is_final(self) -> bool:
        return self in (Outcome.SUCCEEDED, Outcome.FAILED)
