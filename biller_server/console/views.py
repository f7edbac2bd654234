"""The console's pages: each parses its input, calls domain functions and renders a template.

Every page but sign-in needs a signed-in person; every action is also checked against the person's role here,
on the server, whatever the page offered.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from biller_server.console import uploads
from biller_server.console.auth import (
    StaffMember,
    audit,
    audit_on_its_own,
    check_csrf,
    csrf_token,
    end_session,
    requires,
    signed_in_member,
    start_session,
)
from biller_server.console.chart import hourly_chart
from biller_server.console.format import india_time
from biller_server.console.forms import (
    CancelBillForm,
    CloseBillForm,
    FindForm,
    FormError,
    ReportDayForm,
    SignInForm,
    UploadForm,
    parse,
)
from biller_server.domain.billing.accounts import bill_with_payments, customer_account
from biller_server.domain.billing.bills import BillError, cancel_bill, close_bill
from biller_server.domain.health import channel_silence, recent_call_errors, worker_health
from biller_server.domain.india import india_today
from biller_server.domain.lookup import find_reference, message_body_text
from biller_server.domain.payments.history import payment_history
from biller_server.domain.reports.daily import CSV_HEADER, daily_report, india_day_bounds, report_csv_rows
from biller_server.domain.reports.today import collections_by_hour, needs_a_person, partner_health
from biller_server.domain.settlement import open_breaks_older_than_a_day
from biller_server.domain.staff.accounts import LockoutPolicy, SignIn, SignInResult, end_sessions, sign_in
from biller_server.domain.staff.audit import audit_entries
from biller_server.domain.staff.roles import Permission
from biller_server.domain.upload.files import FileOptions
from biller_server.domain.upload.formats import ColumnMapError, parse_column_mapping
from biller_server.domain.upload.runs import list_uploads
from biller_server.extensions import get_db, get_settings, request_session
from biller_server.http.errors import ErrorInfo
from biller_server.persistence.models import Bill, InboundMessage
from biller_server.persistence.types import utcnow

CONSOLE_PREFIX = "/console"
CALL_ERRORS_WINDOW = dt.timedelta(days=1)  # Today's "our calls that failed": the last day's
UPLOAD_PATH = CONSOLE_PREFIX + "/uploads"  # the one console path with a larger body cap (BILLER_CONSOLE_UPLOAD_*)

blueprint = Blueprint("console", __name__, template_folder="templates", static_folder="static")

OPEN_ENDPOINTS = frozenset({"console.sign_in", "console.static"})
# What a browser may load and do on a console page: only this server's files, no script at all, no framing.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


@blueprint.before_request
def _signed_in_and_same_site() -> ResponseReturnValue | None:
    check_csrf()
    if request.endpoint in OPEN_ENDPOINTS or signed_in_member() is not None:
        return None
    if request.method != "GET":
        abort(401, description="Your session has ended: sign in again.")
    return redirect(url_for("console.sign_in", next=request.full_path.rstrip("?")))


@blueprint.after_request
def _console_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    if request.endpoint != "console.static":
        response.headers["Cache-Control"] = "no-store"  # customers' data stays out of shared and browser caches
    return response


@blueprint.app_context_processor
def _page_context() -> dict[str, object]:
    return {"csrf_token": csrf_token, "member": signed_in_member, "Permission": Permission}


def render_console_error(error: ErrorInfo) -> Response:
    """The console's own error page (the partner channels keep their JSON shapes)."""
    if error.http_status == 413 and request.path == UPLOAD_PATH:
        limit = get_settings().console_upload_max_bytes / (1024 * 1024)
        error = dataclasses.replace(
            error,
            message=f"The file is larger than the console takes ({limit:g} MiB). Split it into smaller files, or "
            "load it on the server with `biller-server bills upload`.",
        )
    # Bare: no signed-in header, so that an error page never needs the database (it may be the error).
    response = Response(render_template("console/error.html", error=error, bare=True), status=error.http_status)
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["Cache-Control"] = "no-store"
    return response


def _not_found(message: str) -> ResponseReturnValue:
    return render_template("console/error.html", error=ErrorInfo(404, "not-found", message)), 404


def _member() -> StaffMember:
    member = signed_in_member()
    assert member is not None  # the blueprint's before_request saw to it
    return member


# Signing in and out ---------------------------------------------------------------------------------------------


def _safe_next(target: str | None) -> str:
    # Only a console path: a sign-in link must never send the person to another site.
    if target and target.startswith(CONSOLE_PREFIX + "/") and "//" not in target and "\\" not in target:
        return target
    return url_for("console.today")


@blueprint.route("/sign-in", methods=["GET", "POST"], endpoint="sign_in")
def sign_in_view() -> ResponseReturnValue:
    """Sign in with a name and password; failures are counted and lock the name after the threshold."""
    if request.method == "GET":
        return render_template("console/sign_in.html", next=request.args.get("next", "")[:300], error=None)
    try:
        form = parse(SignInForm, request.form)
    except FormError as exc:
        return render_template("console/sign_in.html", next="", error=str(exc)), 400
    settings = get_settings()
    policy = LockoutPolicy(settings.console_lockout_threshold, dt.timedelta(minutes=settings.console_lockout_minutes))
    with get_db().transaction() as books:
        outcome = sign_in(session=books, name=form["name"], password=form["password"], policy=policy, now=utcnow())
        # Committed with its audit entry whatever the result: a refused sign-in must still count.
        audit(books, "sign_in", outcome=outcome.result.value, actor=form["name"].lower()[:64])
        user = outcome.user
        member = StaffMember(user.id, user.name, user.role) if user is not None else None
        version = user.session_version if user is not None else 0
    if member is None:
        return render_template("console/sign_in.html", next=form["next"] or "", error=_refusal(outcome)), 401
    start_session(member, version)
    return redirect(_safe_next(form["next"]))


def _refusal(outcome: SignIn) -> str:
    result, locked_until = outcome.result, outcome.locked_until
    if result is SignInResult.LOCKED:
        return (
            f"Too many failed sign-ins for this name: try again after {india_time(locked_until)}, "
            "or ask an administrator to reset the password."
        )
    if result is SignInResult.DISABLED:
        return "This account is disabled. Ask an administrator."
    return "Wrong name or password."


@blueprint.post("/sign-out")
def sign_out() -> ResponseReturnValue:
    """Sign out: every session of this person ends (a copied cookie is refused too)."""
    member = _member()
    with get_db().transaction() as books:
        end_sessions(session=books, user_id=member.id)
        audit(books, "sign_out", outcome="ok")
    end_session()
    flash("You are signed out.")
    return redirect(url_for("console.sign_in"))


# Pages ----------------------------------------------------------------------------------------------------------


@blueprint.get("/")
def index() -> ResponseReturnValue:
    return redirect(url_for("console.today"))


@blueprint.get("/today")
def today() -> ResponseReturnValue:
    """Today in India: collections by hour, payments by state, what needs a person, partner health."""
    books = request_session()
    settings = get_settings()
    now = utcnow()
    day = india_today()
    collections = collections_by_hour(session=books, day=day)
    return render_template(
        "console/today.html",
        day=day,
        now=now,
        collections=collections,
        chart=hourly_chart(collections),
        report=daily_report(session=books, day=day, now=now),
        attention=needs_a_person(session=books),
        breaks=open_breaks_older_than_a_day(
            session=books, today=day, never_settled_after_days=settings.settlement_expected_within_days, now=now
        ),
        partners=partner_health(session=books, now=now),
        workers=worker_health(session=books, now=now, stale_after_seconds=settings.worker_stale_seconds),
        stale_after=settings.worker_stale_seconds,
        channels=channel_silence(session=books, now=now, channels=settings.enabled_channels()),
        call_errors=recent_call_errors(session=books, since=now - CALL_ERRORS_WINDOW, limit=10),
    )


@blueprint.get("/find")
def find() -> ResponseReturnValue:
    """One search box for any reference: customers, bills, payments, notifications and partner calls."""
    try:
        form = parse(FindForm, request.args)
    except FormError as exc:
        return render_template("console/find.html", form={"q": "", "days": 7}, findings=None, error=str(exc)), 400
    findings = None
    if form["q"]:
        since, _ = india_day_bounds(india_today() - dt.timedelta(days=form["days"] - 1))
        findings = find_reference(session=request_session(), reference=form["q"], since=since)
    return render_template("console/find.html", form=form, findings=findings, error=None)


# Ids are the books' integers: a larger number names nothing (404), and never reaches PostgreSQL (out of range).
@blueprint.get("/payments/<int(max=2147483647):payment_id>")
def payment(payment_id: int) -> ResponseReturnValue:
    """A payment with its bill, receipt, events, jobs, our calls to partners and theirs to us."""
    history = payment_history(session=request_session(), payment_id=payment_id)
    if history is None:
        return _not_found(f"There is no payment {payment_id}.")
    trail = audit_entries(session=request_session(), target=f"payment:{payment_id}", limit=20)
    return render_template(
        "console/payment.html", history=history, audit=trail, read_timeout=get_settings().partner_read_timeout_seconds
    )


@blueprint.get("/inbound/<int(max=2147483647):message_id>")
def inbound_message(message_id: int) -> ResponseReturnValue:
    """One partner call whole: headers (secrets redacted when it was logged) and body."""
    message = request_session().get(InboundMessage, message_id)
    if message is None:
        return _not_found(f"There is no partner call {message_id}.")
    return render_template("console/inbound.html", message=message, body=message_body_text(message.body))


@blueprint.get("/customers/<path:customer_id>")
def customer(customer_id: str) -> ResponseReturnValue:
    """A customer's identifiers and bills, each with its balance and payments."""
    account = customer_account(session=request_session(), lender_customer_id=customer_id)
    if account is None:
        return _not_found("There is no customer with this id.")
    return render_template("console/customer.html", account=account)


@blueprint.get("/bills/<path:partner_bill_id>")
def bill(partner_bill_id: str) -> ResponseReturnValue:
    """A bill with its balance and payments; an operator may cancel it."""
    found = bill_with_payments(session=request_session(), partner_bill_id=partner_bill_id)
    if found is None:
        return _not_found("There is no bill with this id.")
    history = audit_entries(session=request_session(), target=f"bill:{found.partner_bill_id}", limit=20)
    return render_template("console/bill.html", bill=found, audit=history)


def _bill_target() -> str:
    return f"bill:{request.form.get('partner_bill_id', '')[:64]}"


@blueprint.post("/bills/cancel")
@requires(Permission.CANCEL_BILL, target=_bill_target)
def cancel() -> ResponseReturnValue:
    """Cancel a bill so BBPS is no longer offered it (refused if it has a payment); a note is required."""
    return _bill_action(
        CancelBillForm,
        "cancel_bill",
        "cancelled",
        lambda books, form: cancel_bill(session=books, partner_bill_id=form["partner_bill_id"]),
        note_field="note",
    )


@blueprint.post("/bills/close")
@requires(Permission.CLOSE_BILL, target=_bill_target)
def close() -> ResponseReturnValue:
    """Close a bill settled outside BBPS (foreclosure, write-off): no longer offered, its payments kept."""
    return _bill_action(
        CloseBillForm,
        "close_bill",
        "closed",
        lambda books, form: close_bill(
            session=books, partner_bill_id=form["partner_bill_id"], reason=form["reason"], now=utcnow()
        ),
        note_field="reason",
    )


def _bill_action(
    form_class: type, action: str, done: str, act: Callable[[Session, dict[str, Any]], Bill], *, note_field: str
) -> ResponseReturnValue:
    """Parse the form, act on the bill in one transaction with its audit entry, and say what happened."""
    try:
        form = parse(form_class, request.form)
    except FormError as exc:
        bill_id = request.form.get("partner_bill_id", "")[:64]
        flash(f"Not {done}: {exc}", "error")
        return (
            redirect(url_for("console.bill", partner_bill_id=bill_id)) if bill_id else redirect(url_for("console.find"))
        )
    target, note = f"bill:{form['partner_bill_id']}", form[note_field]
    try:
        with get_db().transaction() as books:
            bill = act(books, form)
            audit(books, action, outcome="ok", target=target, note=note)
    except BillError as exc:
        audit_on_its_own(action, outcome="failed", target=target, note=note, detail={"error": str(exc)})
        flash(f"Not {done}: {exc}.", "error")
        return redirect(url_for("console.bill", partner_bill_id=form["partner_bill_id"]))
    flash(f"Bill {bill.partner_bill_id} is {done}.")
    return redirect(url_for("console.bill", partner_bill_id=bill.partner_bill_id))


def _report_day() -> dt.date:
    """The day asked for (``?date=YYYY-MM-DD``), by default yesterday in India, as `report daily` has it."""
    try:
        form = parse(ReportDayForm, request.args)
    except FormError as exc:
        abort(400, description=str(exc))
    return form["date"] or india_today() - dt.timedelta(days=1)


@blueprint.get("/reports/daily")
def daily() -> ResponseReturnValue:
    """The daily report for a chosen day (default: yesterday in India), as the CLI prints it, with CSV."""
    day = _report_day()
    report = daily_report(session=request_session(), day=day, now=utcnow())
    return render_template("console/report.html", report=report, day=day)


@blueprint.get("/reports/daily.csv")
def daily_csv() -> ResponseReturnValue:
    """The daily report as CSV, one figure per row (the same file as `report daily --format csv`)."""
    day = _report_day()
    # One transaction for the figures and the download's audit entry (a second one would wait on SQLite's lock).
    with get_db().transaction() as books:
        report = daily_report(session=books, day=day, now=utcnow())
        audit(books, "download_daily_report", outcome="ok", target=f"report:{day.isoformat()}")
    return csv_download(CSV_HEADER, report_csv_rows(report), f"daily-report-{day.isoformat()}.csv")


def csv_download(header: Sequence[str], rows: Iterable[Sequence[object]], file_name: str) -> Response:
    """A report as a CSV file to save (its rows built by the domain, as the commands print them)."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return Response(
        text.getvalue(), mimetype="text/csv", headers={"Content-Disposition": f"attachment; filename={file_name}"}
    )


@blueprint.get("/audit")
def audit_log() -> ResponseReturnValue:
    """The newest audit entries: sign-ins, actions, refusals."""
    return render_template("console/audit.html", entries=audit_entries(session=request_session(), limit=200))


# Bill upload ------------------------------------------------------------------------------------------------------


@blueprint.get("/uploads")
def upload_page() -> ResponseReturnValue:
    """The upload form (for an operator) and the latest uploads, whoever ran them (console or command)."""
    return _upload_page(error=None)


def _upload_page(*, error: str | None, form: dict[str, Any] | None = None) -> ResponseReturnValue:
    with get_db().transaction() as books:  # list_uploads marks the runs a dead process left as interrupted
        recent = list_uploads(session=books, limit=20)
        books.expunge_all()
    settings = get_settings()
    page = render_template(
        "console/uploads.html",
        recent=recent,
        error=error,
        form=form or {"sheet": "", "date_order": "dmy", "columns": ""},
        max_mib=settings.console_upload_max_bytes // (1024 * 1024),
    )
    return (page, 400) if error else page


@blueprint.post("/uploads", endpoint="upload_start")
@requires(Permission.UPLOAD_BILLS, target=lambda: "upload")
def upload_start() -> ResponseReturnValue:
    """Keep the file, start its check (a dry run) in the background, and show its page."""
    shown = {key: request.form.get(key, "") for key in ("sheet", "date_order", "columns")}
    try:
        form = parse(UploadForm, request.form)
        columns: dict[str, str] = {}
        for line in form["columns"].splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                ours, theirs = parse_column_mapping(line, where="columns")
                columns[ours] = theirs
        files = request.files.getlist("file")
        if len(files) > 1:
            raise FormError("file: send one file at a time")
        options = FileOptions(sheet=form["sheet"] or None, columns=columns, date_order=form["date_order"])
        job = uploads.receive(files[0] if files else None, options, by=_member().name)
    except (FormError, ColumnMapError, uploads.UploadRefused) as exc:
        return _upload_page(error=str(exc), form=shown)
    return redirect(url_for("console.upload_status", upload_id=job.id))


def _job(upload_id: str) -> uploads.UploadJob:
    job = uploads.load(upload_id)
    if job is None:
        abort(
            404, description="There is no such upload here (its files are kept for 7 days, on the host that took it)."
        )
    return job


@blueprint.get("/uploads/<upload_id>")
def upload_status(upload_id: str) -> ResponseReturnValue:
    """One upload: its check (counts, changes, rejects) and, once confirmed, its write; refreshes while running."""
    job = _job(upload_id)
    return render_template("console/upload.html", job=job, rejects_name=uploads.rejects_file(job))


@blueprint.post("/uploads/<upload_id>/confirm")
@requires(Permission.UPLOAD_BILLS, target=lambda: f"upload:{request.view_args.get('upload_id', '')[:64]}")
def upload_confirm(upload_id: str) -> ResponseReturnValue:
    """Write a checked upload (its good rows), in the background; the page shows the progress."""
    _job(upload_id)
    if uploads.confirm(upload_id, by=_member().name) is None:
        flash(
            "This upload is not waiting for confirmation (it was confirmed already, or has nothing to write).", "error"
        )
    return redirect(url_for("console.upload_status", upload_id=upload_id))


@blueprint.get("/uploads/<upload_id>/rejects")
def upload_rejects(upload_id: str) -> ResponseReturnValue:
    """The rejects file: each refused row as it came, with its line and reason, to fix and upload again."""
    job = _job(upload_id)
    path = uploads.folder(upload_id)
    name = uploads.rejects_file(job)
    if path is None or not (path / name).is_file():
        abort(404, description="This upload has no rejects file (yet).")
    audit_on_its_own("download_rejects", outcome="ok", target=f"file:{job.file_name[:100]}")
    stem = secure_name_stem(job.stored_name)
    return send_file(path / name, as_attachment=True, download_name=f"{stem}-rejects{(path / name).suffix}")


@blueprint.get("/uploads/<upload_id>/changes.txt")
def upload_changes(upload_id: str) -> ResponseReturnValue:
    """Every change the check found, one a line (the page shows the first 200)."""
    job = _job(upload_id)
    path = uploads.folder(upload_id)
    if path is None or not (path / "changes.txt").is_file() or (job.phase == "check" and job.state == "running"):
        abort(404, description="The list of changes is not ready.")
    stem = secure_name_stem(job.stored_name)
    return send_file(
        path / "changes.txt", as_attachment=True, download_name=f"{stem}-changes.txt", mimetype="text/plain"
    )


def secure_name_stem(stored_name: str) -> str:
    return stored_name.rsplit(".", 1)[0] or "upload"
