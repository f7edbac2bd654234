"""A partner client that answers from a script, with no network: the tests' partner and the demo's.

Chosen by configuration like any real client (``BILLER_KALEIDOFIN_CONFIRMED_BY=fake``); production refuses it.
With no script it confirms every payment.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from biller_server.clients.base import CallRecord, Outcome, PartnerError, PaymentContext, StatusResult

Answer = StatusResult | PartnerError
SUCCEEDED = StatusResult(Outcome.SUCCEEDED, raw_status="SUCCEEDED")


@dataclass(frozen=True)
class FakeCall:
    context: PaymentContext
    answer: Answer


class FakePartnerClient:
    """Answers each call with the next scripted answer (the last one repeats); raises scripted errors."""

    def __init__(
        self,
        name: str = "fake",
        answers: Iterable[Answer] = (SUCCEEDED,),
        *,
        on_call: Callable[[PaymentContext], None] | None = None,
    ) -> None:
        self.name = name
        self._answers = list(answers) or [SUCCEEDED]
        self._on_call = on_call
        self._lock = threading.Lock()
        self.calls: list[FakeCall] = []

    def check_payment(self, context: PaymentContext, *, calls: list[CallRecord]) -> StatusResult:
        if self._on_call is not None:
            self._on_call(context)
        with self._lock:
            answer = self._answers[min(len(self.calls), len(self._answers) - 1)]
            self.calls.append(FakeCall(context, answer))
        calls.append(
            CallRecord(
                partner=self.name,
                operation="status",
                method="FAKE",
                url=f"fake://{self.name}/payments/{context.payment_id}",
                request_body=None,
                response_status=200 if isinstance(answer, StatusResult) else None,
                response_body=answer.raw_status if isinstance(answer, StatusResult) else None,
                latency_ms=0.0,
                error=None if isinstance(answer, StatusResult) else str(answer),
            )
        )
        if isinstance(answer, PartnerError):
            raise answer
        return answer

    def close(self) -> None:
        pass
