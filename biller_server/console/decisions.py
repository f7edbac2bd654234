"""The console's decisions and reconciliation: a person's verdict on a payment, a recheck, a held notification
matched or dismissed, the settlement report and a break acknowledged.

Each action calls the same domain function as its command (``payments resolve|recheck``, ``notifications
match|dismiss``, ``settlements ack``), which writes the audit entry in the action's own transaction; a refusal by
the domain is audited here as ``failed`` in a transaction of its own, a refusal by role by ``requires``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from biller_server.console.auth import audit, audit_on_its_own, requires, signed_in_member
from biller_server.console.forms import AckForm, FormError, MatchForm, NoteForm, ReportDayForm, ResolveForm, parse
from biller_server.console.views import blueprint, csv_download
from biller_server.domain.errors import DomainError
from biller_server.domain.india import india_today
from biller_server.domain.payments.decisions import (
    DecisionRefused,
    decision_line,
    dismiss_notification,
    held_because,
    match_notification,
    recheck_payment,
    resolve_payment,
    wait_for_recheck_answer,
)
from biller_server.domain.settlement import (
    SETTLEMENT_CSV_HEADER,
    ack_break,
    settlement_csv_rows,
    settlement_report,
)
from biller_server.domain.staff.audit import AuditOrigin, audit_entries
from biller_server.domain.staff.roles import Permission
from biller_server.extensions import get_db, get_settings, request_session
from biller_server.http.errors import ErrorInfo
from biller_server.http.logging import current_request_id
from biller_server.persistence.models import PaymentNotification
from biller_server.persistence.types import utcnow


def _by() -> str:
    member = signed_in_member()
    assert member is not None  # the blueprint's before_request saw to it
    return member.name


def _origin() -> AuditOrigin:
    return AuditOrigin(source_address=request.remote_addr, request_id=current_request_id())


def _payment_target() -> str:
    return f"payment:{(request.view_args or {}).get('payment_id', '')}"


def _notification_target() -> str:
    return f"notification:{(request.view_args or {}).get('notification_id', '')}"


def _decide(
    action: str,
    target: str,
    back: str,
    form: dict[str, Any] | FormError,
    decide: Callable[[dict[str, Any]], str],
    *,
    refused: Callable[[DomainError], str] = lambda exc: exc.message,
) -> ResponseReturnValue:
    """Run one decision in a transaction (its audit entry is the domain's), and say on the page what happened;
    a form that is not one, or a refusal, is said too (a refusal is audited as failed)."""
    if isinstance(form, FormError):
        flash(f"Nothing done: {form}", "error")
        return redirect(back)
    try:
        with get_db().transaction() as books:
            message = decide({**form, "books": books})
    except DomainError as exc:
        audit_on_its_own(
            action, outcome="failed", target=target, note=form.get("note"), detail={"error": exc.message[:500]}
        )
        flash(f"Nothing done: {refused(exc)}", "error")
        return redirect(back)
    flash(message[:1].upper() + message[1:] + ".")
    return redirect(back)


def _form(schema: type) -> dict[str, Any] | FormError:
    try:
        return parse(schema, request.form)
    except FormError as exc:
        return exc


# A payment --------------------------------------------------------------------------------------------------------


def _resolve_refused(exc: DomainError) -> str:
    if isinstance(exc, DecisionRefused) and exc.needs_override:
        # The command's words name its flag; the page has a box.
        return exc.message.replace("add --override", "tick the override box")
    return exc.message


@blueprint.post("/payments/<int(max=2147483647):payment_id>/resolve")
@requires(Permission.RESOLVE_PAYMENT, target=_payment_target)
def resolve(payment_id: int) -> ResponseReturnValue:
    """Record a person's verdict on a payment (confirmed or failed), as `payments resolve` does."""
    form = _form(ResolveForm)

    def decide(values: dict[str, Any]) -> str:
        result = resolve_payment(
            session=values["books"],
            payment_id=payment_id,
            decision=values["decision"],
            note=values["note"],
            evidence=values["evidence"] or None,
            override=values["override"] == "yes",
            by=_by(),
            now=utcnow(),
            origin=_origin(),
        )
        return decision_line(result.message, result.changed)

    action = f"{Permission.RESOLVE_PAYMENT}.{request.form.get('decision', '')[:9]}".rstrip(".")
    back = url_for("console.payment", payment_id=payment_id)
    return _decide(action, f"payment:{payment_id}", back, form, decide, refused=_resolve_refused)


@blueprint.post("/payments/<int(max=2147483647):payment_id>/recheck")
@requires(Permission.RECHECK_PAYMENT, target=_payment_target)
def recheck(payment_id: int) -> ResponseReturnValue:
    """Ask the partner now (a worker makes the call); wait for the answer up to the partners' read timeout."""
    back = url_for("console.payment", payment_id=payment_id)
    try:
        with get_db().transaction() as books:
            asked = recheck_payment(session=books, payment_id=payment_id, by=_by(), now=utcnow(), origin=_origin())
    except DomainError as exc:
        audit_on_its_own(
            Permission.RECHECK_PAYMENT, outcome="failed", target=f"payment:{payment_id}", detail={"error": exc.message}
        )
        flash(f"Nothing asked: {exc.message}", "error")
        return redirect(back)
    timeout = get_settings().partner_read_timeout_seconds
    answer = wait_for_recheck_answer(
        open_session=get_db().new_session, payment_id=payment_id, asked=asked, timeout_seconds=timeout
    )
    if answer is None:
        flash(
            f"Queued: {asked.message}. No answer within {timeout:g} s (is a worker running?): the answer will be "
            "on this page once a worker has asked."
        )
    else:
        flash(f"Asked: {asked.message}. The partner's {answer}.")
    return redirect(back)


# A held notification ------------------------------------------------------------------------------------------------


@blueprint.get("/notifications/<int(max=2147483647):notification_id>")
def notification(notification_id: int) -> ResponseReturnValue:
    """A partner's payment notification: what it said, why it is held, and (operator) match or dismiss it."""
    found = request_session().get(PaymentNotification, notification_id)
    if found is None:
        error = ErrorInfo(404, "not-found", f"There is no notification {notification_id}.")
        return render_template("console/error.html", error=error), 404
    history = audit_entries(session=request_session(), target=f"notification:{found.id}", limit=20)
    return render_template(
        "console/notification.html", notification=found, held_because=held_because(found), audit=history
    )


@blueprint.post("/notifications/<int(max=2147483647):notification_id>/match")
@requires(Permission.MATCH_NOTIFICATION, target=_notification_target)
def match(notification_id: int) -> ResponseReturnValue:
    """Apply a held notification's verdict to the payment a person names, as `notifications match` does."""
    form = _form(MatchForm)

    def decide(values: dict[str, Any]) -> str:
        result = match_notification(
            session=values["books"],
            notification_id=notification_id,
            payment_id=values["payment_id"],
            note=values["note"],
            by=_by(),
            now=utcnow(),
            origin=_origin(),
        )
        return decision_line(result.message, result.changed)

    back = url_for("console.notification", notification_id=notification_id)
    return _decide(Permission.MATCH_NOTIFICATION, f"notification:{notification_id}", back, form, decide)


@blueprint.post("/notifications/<int(max=2147483647):notification_id>/dismiss")
@requires(Permission.DISMISS_NOTIFICATION, target=_notification_target)
def dismiss(notification_id: int) -> ResponseReturnValue:
    """Set a held notification aside with a note; the books do not change (`notifications dismiss`)."""
    form = _form(NoteForm)

    def decide(values: dict[str, Any]) -> str:
        changed, message = dismiss_notification(
            session=values["books"],
            notification_id=notification_id,
            note=values["note"],
            by=_by(),
            now=utcnow(),
            origin=_origin(),
        )
        return decision_line(message, changed)

    back = url_for("console.notification", notification_id=notification_id)
    return _decide(Permission.DISMISS_NOTIFICATION, f"notification:{notification_id}", back, form, decide)


# The settlement report ------------------------------------------------------------------------------------------------


def _settlement_day() -> dt.date:
    """The day asked for (``?date=YYYY-MM-DD``), by default yesterday in India, as `report settlement` has it."""
    try:
        form = parse(ReportDayForm, request.args)
    except FormError as exc:
        abort(400, description=str(exc))
    return form["date"] or india_today() - dt.timedelta(days=1)


def _report(day: dt.date, books: Any) -> Any:
    return settlement_report(
        session=books, day=day, never_settled_after_days=get_settings().settlement_expected_within_days, now=utcnow()
    )


@blueprint.get("/reports/settlement")
def settlement() -> ResponseReturnValue:
    """Settlement reconciliation of one day: matched, each kind of open break, acknowledged; with CSV."""
    day = _settlement_day()
    return render_template("console/settlement.html", report=_report(day, request_session()), day=day)


@blueprint.get("/reports/settlement.csv")
def settlement_csv() -> ResponseReturnValue:
    """The settlement report as one CSV table: a row per match and per break (amounts in paise)."""
    day = _settlement_day()
    with get_db().transaction() as books:
        report = _report(day, books)
        audit(books, "download_settlement_report", outcome="ok", target=f"report:{day.isoformat()}")
    return csv_download(SETTLEMENT_CSV_HEADER, settlement_csv_rows(report), f"settlement-report-{day.isoformat()}.csv")


@blueprint.post("/reports/settlement/ack")
@requires(Permission.ACK_BREAK, target=lambda: request.form.get("key", "")[:200])
def ack() -> ResponseReturnValue:
    """Acknowledge a break with a note (`settlements ack`): it leaves the open list, kept with who and why."""
    form = _form(AckForm)
    day = form.get("date") if not isinstance(form, FormError) else None
    back = url_for("console.settlement", date=day.isoformat() if day else None)

    def decide(values: dict[str, Any]) -> str:
        changed, message = ack_break(
            session=values["books"], key=values["key"], note=values["note"], by=_by(), now=utcnow(), origin=_origin()
        )
        return decision_line(f"break {message}", changed)

    target = request.form.get("key", "")[:200]
    return _decide(Permission.ACK_BREAK, target, back, form, decide)
