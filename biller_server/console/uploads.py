"""The console's bill upload: the file a person sends is kept on this host, checked (a dry run) and, once they
confirm, written, each in a background thread of the web process, through ``domain.upload.files.upload_file``:
the same function, rules and ``bill_uploads`` record as `biller-server bills upload`.

Each upload has a folder under ``BILLER_INSTANCE_DIR/console-uploads/<id>/``: the file as sent, the rejects
file, the full change list, and ``state.json``, which the thread rewrites as it goes (atomically) and the page
reads on every refresh, from whichever of serve's processes answers. The thread uses its own dedicated database
session, as the command does. docs/console.md says why a thread and not the worker.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask, current_app, request
from werkzeug.datastructures import FileStorage
from werkzeug.utils import secure_filename

from biller_server.domain.india import india_today
from biller_server.domain.staff.audit import record_audit
from biller_server.domain.upload import Conflict, RejectedRow, UploadBusy, UploadFileError, describe_change
from biller_server.domain.upload.files import FileOptions, UploadHooks, is_workbook, upload_file
from biller_server.domain.upload.store import BillChange, CustomerChange
from biller_server.extensions import get_db, get_settings
from biller_server.http.logging import current_request_id
from biller_server.persistence.types import utcnow

UPLOADS_FOLDER = "console-uploads"
KEEP_FOR = dt.timedelta(days=7)  # then a new upload removes the folder (the books keep the bill_uploads record)
SHOWN = 200  # rejects and changes listed on the page; the downloads have them all
RUNNER_KEY = "biller_server.console_upload_runner"
ACCEPTED_SUFFIXES = (".csv", ".txt", ".xlsx", ".xlsm")
_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")
_SAVE_EVERY_SECONDS = 0.5
AUDITED_FIGURES = ("rows", "created", "updated", "unchanged", "conflicts", "rejected")

Runner = Callable[[Callable[[], None]], None]


class UploadRefused(ValueError):
    """The file cannot be taken (the message is one line for the page)."""


def _in_a_thread(work: Callable[[], None]) -> None:
    threading.Thread(target=work, name="console-upload", daemon=False).start()


def runner() -> Runner:
    """How the work is run: a thread; tests may set an inline runner in ``app.extensions``."""
    return current_app.extensions.get(RUNNER_KEY, _in_a_thread)


@dataclasses.dataclass
class UploadJob:
    """What ``state.json`` holds: the file, who sent it, and how far its check and its write got."""

    id: str
    file_name: str  # as the browser named it (shown escaped, never used as a path)
    stored_name: str
    by: str
    started_at: str  # ISO, UTC
    options: dict[str, Any]
    phase: str = "check"  # "check" (the dry run), then "write" once confirmed
    state: str = "running"  # running, done, failed
    stage: str = "reading and checking"
    read: int = 0
    size: int = 0
    unit: str = "bytes"
    written: int = 0
    to_write: int = 0
    check: dict[str, Any] | None = None  # the dry run's report
    result: dict[str, Any] | None = None  # the write's report
    rejects: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    rejects_total: int = 0
    changes: list[str] = dataclasses.field(default_factory=list)
    changes_total: int = 0
    ignored_columns: list[str] = dataclasses.field(default_factory=list)
    error: str | None = None
    upload_id: int | None = None
    confirmed_by: str | None = None
    finished_at: str | None = None
    pid: int = dataclasses.field(default_factory=os.getpid)  # the process running it (serve's, on this host)

    @property
    def started(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.started_at)

    @property
    def lost(self) -> bool:
        """Still running by its own account, but its process is gone (serve restarted or was killed)."""
        if self.state != "running":
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False

    @property
    def percent(self) -> int:
        if self.phase == "write" and self.stage == "writing":
            return int(100 * self.written / self.to_write) if self.to_write else 100
        return int(100 * self.read / self.size) if self.size else 0

    @property
    def confirmable(self) -> bool:
        check = self.check or {}
        good = check.get("created", 0) + check.get("updated", 0) + check.get("customers_updated", 0)
        return self.phase == "check" and self.state == "done" and good > 0


def uploads_root() -> Path:
    return Path(get_settings().instance_dir) / UPLOADS_FOLDER


def folder(upload_id: str) -> Path | None:
    """The upload's folder, if ``upload_id`` names one (never a path of the caller's choosing)."""
    if not _ID.fullmatch(upload_id):
        return None
    path = uploads_root() / upload_id
    return path if (path / "state.json").is_file() else None


def load(upload_id: str) -> UploadJob | None:
    path = folder(upload_id)
    if path is None:
        return None
    return UploadJob(**json.loads((path / "state.json").read_text(encoding="utf-8")))


def _save(path: Path, job: UploadJob) -> None:
    draft = path / f"state.json.{os.getpid()}.{threading.get_ident()}"
    draft.write_text(json.dumps(dataclasses.asdict(job)), encoding="utf-8")
    os.replace(draft, path / "state.json")  # a reader sees the old state or the new one, never half of one


def rejects_file(job: UploadJob) -> str:
    return "rejects.xlsx" if is_workbook(Path(job.stored_name)) else "rejects.csv"


def receive(file: FileStorage | None, options: FileOptions, *, by: str) -> UploadJob:
    """Keep the file sent in its own new folder and start its check; UploadRefused if it cannot be a bill file."""
    if file is None or not file.filename:
        raise UploadRefused("Choose a file to upload: a CSV file (.csv) or an Excel workbook (.xlsx).")
    name = file.filename.replace("\\", "/").rsplit("/", 1)[-1][:255]
    suffix = Path(name).suffix.casefold()
    if suffix == ".xls":
        raise UploadRefused(
            f"{name} is an old Excel file (.xls): open it in Excel and save it as an Excel Workbook (.xlsx)."
        )
    if suffix not in ACCEPTED_SUFFIXES:
        raise UploadRefused(f"{name} is not a CSV file (.csv) or an Excel workbook (.xlsx): upload one of those.")
    if options.sheet and not is_workbook(Path(name)):
        raise UploadRefused(f"A sheet is only for Excel workbooks (.xlsx); {name} is read as CSV.")
    _prune()
    upload_id = secrets.token_urlsafe(18)
    path = uploads_root() / upload_id
    path.mkdir(parents=True, mode=0o700)
    stored = (secure_filename(name) or f"upload{suffix}")[:120]
    if Path(stored).suffix.casefold() != suffix:
        stored = f"upload{suffix}"
    file.save(path / stored)
    job = UploadJob(
        id=upload_id,
        file_name=name,
        stored_name=stored,
        by=by,
        started_at=utcnow().isoformat(),
        # Checked and written with the good rows only: the rejects are listed and downloaded, fixed and sent again.
        options=dataclasses.replace(options, skip_invalid=True).as_record(),
    )
    _save(path, job)
    _start(path, job, request_facts())
    return job


def confirm(upload_id: str, *, by: str) -> UploadJob | None:
    """Start writing a checked upload; None if it is not one waiting for confirmation (or another click took it)."""
    path = folder(upload_id)
    job = load(upload_id)
    if path is None or job is None or not job.confirmable:
        return None
    try:  # one confirmation per upload, whichever process gets the click
        os.close(os.open(path / "confirmed", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        return None
    job.phase, job.state, job.stage, job.confirmed_by, job.error = "write", "running", "reading and checking", by, None
    job.read = job.written = job.to_write = job.rejects_total = job.changes_total = 0
    job.rejects, job.changes, job.pid = [], [], os.getpid()
    _save(path, job)
    _start(path, job, request_facts())
    return job


def request_facts() -> dict[str, Any]:
    """What the background work's audit entries say of the request that started it."""
    return {"source_address": request.remote_addr, "request_id": current_request_id()}


def _start(path: Path, job: UploadJob, facts: dict[str, Any]) -> None:
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]

    def work() -> None:
        with app.app_context():
            _run(path, job, facts)

    runner()(work)


def _run(path: Path, job: UploadJob, facts: dict[str, Any]) -> None:
    dry_run = job.phase == "check"
    watcher = _Watcher(path, job)
    action = "check_bill_file" if dry_run else "upload_bills"
    try:
        done = upload_file(
            path / job.stored_name,
            FileOptions.from_record(job.options),
            session=get_db().dedicated_session,
            today=india_today(),
            now=utcnow(),
            dry_run=dry_run,
            operator=f"console:{job.confirmed_by or job.by}",
            rejects_path=path / rejects_file(job) if dry_run else None,
            hooks=watcher.hooks(changes=dry_run),
            transaction_seconds=get_settings().bill_upload_transaction_ms / 1000,
        )
    except (UploadFileError, UploadBusy, OSError) as exc:
        job.state, job.error = "failed", str(exc)
    except Exception as exc:  # the thread's last word: the page must not wait for ever
        current_app.logger.exception("console upload %s failed", job.id)
        job.state, job.error = "failed", f"{type(exc).__name__} (the server's log has the detail)"
    else:
        report = dataclasses.asdict(done.report)
        if dry_run:
            job.check = report
        else:
            job.result, job.upload_id = report, done.report.upload_id
        job.ignored_columns = list(done.ignored_columns)
        job.state = "done"
    watcher.finish()
    job.finished_at = utcnow().isoformat()
    failed = job.state == "failed"
    _save(path, job)
    _audit(job, action, facts)
    if failed and not dry_run:
        # Confirmable again: nothing was written (another upload held the lock), or what was is whole customers
        # that a second run compares as unchanged (it finishes this one, as `bills upload --resume` would).
        job.phase, job.state = "check", "done"
        _save(path, job)
        (path / "confirmed").unlink(missing_ok=True)


def _audit(job: UploadJob, action: str, facts: dict[str, Any]) -> None:
    figures = job.check if job.phase == "check" else job.result
    detail: dict[str, Any] = {"file": job.file_name[:200], "console_upload": job.id}
    if figures:
        detail.update(
            {key: figures[key] for key in ("rows", "created", "updated", "unchanged", "conflicts", "rejected")}
        )
    if job.error:
        detail["error"] = job.error[:500]
    with get_db().transaction() as books:
        record_audit(
            session=books,
            actor=job.confirmed_by or job.by,
            action=action,
            outcome="ok" if job.state == "done" else "failed",
            now=utcnow(),
            target=f"upload:{job.upload_id}" if job.upload_id else f"file:{job.file_name[:100]}",
            detail=detail,
            **facts,
        )


class _Watcher:
    """Follows the upload for the page: progress saved at most twice a second, the first rejects and changes."""

    def __init__(self, path: Path, job: UploadJob) -> None:
        self.path, self.job = path, job
        self._saved = 0.0
        self._changes = open(path / "changes.txt", "w", encoding="utf-8") if job.phase == "check" else None  # noqa: SIM115

    def hooks(self, *, changes: bool) -> UploadHooks:
        return UploadHooks(
            start_reading=self.start_reading,
            read=self.read,
            stage=self.stage,
            written=self.written,
            problem=self.problem,
            change=self.change if changes else None,
        )

    def start_reading(self, size: int, unit: str) -> None:
        self.job.size, self.job.unit = size, unit
        self._save(force=True)

    def read(self, position: int) -> None:
        self.job.read = position
        self._save()

    def stage(self, name: str) -> None:
        self.job.stage = name
        if name != "reading and checking":
            self.job.read = self.job.size
        self._save(force=True)

    def written(self, done: int, total: int) -> None:
        self.job.written, self.job.to_write = done, total
        self._save()

    def problem(self, found: RejectedRow | Conflict) -> None:
        self.job.rejects_total += 1
        if len(self.job.rejects) < SHOWN:
            kind = "rejected" if isinstance(found, RejectedRow) else "conflict"
            self.job.rejects.append({"line": found.line, "kind": kind, "reason": found.reasons})

    def change(self, change: BillChange | CustomerChange) -> None:
        line = describe_change(change)
        self.job.changes_total += 1
        if len(self.job.changes) < SHOWN:
            self.job.changes.append(line)
        if self._changes is not None:
            self._changes.write(f"line {change.line}: {line}\n")

    def finish(self) -> None:
        if self._changes is not None:
            self._changes.close()

    def _save(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._saved >= _SAVE_EVERY_SECONDS:
            self._saved = now
            _save(self.path, self.job)


def _prune() -> None:
    """Remove the folders of uploads sent more than KEEP_FOR ago (a finished upload's record stays in the books)."""
    root = uploads_root()
    if not root.is_dir():
        return
    cutoff = time.time() - KEEP_FOR.total_seconds()
    for path in root.iterdir():
        if path.is_dir() and _ID.fullmatch(path.name) and path.stat().st_mtime < cutoff:
            shutil.rmtree(path, ignore_errors=True)
