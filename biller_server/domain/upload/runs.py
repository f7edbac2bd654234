"""The record of each bill upload (``bill_uploads``) and the lock that lets one upload write at a time.

An upload's row is written at its start and moved on in the same transactions as its writes, so the row says
how far the books got whatever happens to the process. A process that dies leaves its row ``checking`` or
``applying``; the lock is gone with it, so the next upload (or ``bills uploads``) knows it was interrupted.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from biller_server.persistence.models import BillUpload, BillUploadState

# Any key will do as long as nothing else takes it: PostgreSQL's advisory locks are per database.
_ADVISORY_KEY = "SELECT hashtext('biller_server.bill_upload')"
_RUNNING = (BillUploadState.CHECKING, BillUploadState.APPLYING)
_RESUMABLE = (BillUploadState.INTERRUPTED, BillUploadState.FAILED)


class UploadBusy(Exception):
    """Another upload is writing to this database (the message names it)."""


@dataclasses.dataclass(frozen=True)
class UploadSource:
    """The file an upload reads, as its record keeps it."""

    name: str
    path: str
    sha256: str
    size: int
    operator: str
    options: dict[str, Any] = dataclasses.field(default_factory=dict)


class UploadLock:
    """One writing upload per database: PostgreSQL's session advisory lock, or on SQLite an OS lock on a file
    beside the database. Both go away with the process, however it ends."""

    def __init__(self, session: Session) -> None:
        self._session = session
        connection = session.connection()
        self._dialect = connection.dialect.name
        self._file: Any = None
        self._lock_path: Path | None = None
        if self._dialect == "sqlite":
            database = connection.engine.url.database
            if database and database != ":memory:":
                self._lock_path = Path(database).with_name(Path(database).name + ".upload-lock")

    def try_acquire(self) -> bool:
        if self._dialect == "postgresql":
            return bool(self._session.execute(sa.text(f"SELECT pg_try_advisory_lock(({_ADVISORY_KEY}))")).scalar())
        if self._lock_path is None:
            return True
        self._file = open(self._lock_path, "a+")  # noqa: SIM115 - held until release()
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._file.close()
            self._file = None
            return False
        return True

    def release(self) -> None:
        if self._dialect == "postgresql":
            with contextlib.suppress(Exception):
                self._session.execute(sa.text(f"SELECT pg_advisory_unlock(({_ADVISORY_KEY}))"))
        elif self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    def held_elsewhere(self) -> bool:
        """Whether some other process holds the lock now (without keeping it)."""
        if not self.try_acquire():
            return True
        self.release()
        return False


@contextlib.contextmanager
def upload_lock(session: Session, *, wait_seconds: float = 5.0) -> Iterator[None]:
    """Hold the upload lock for the block; UploadBusy names the upload that holds it.

    Waits a few seconds first: PostgreSQL frees a killed upload's lock only when it notices the connection is
    gone, which can take as long as the statement that was running.
    """
    lock = UploadLock(session)
    deadline = time.monotonic() + wait_seconds
    while not (acquired := lock.try_acquire()) and time.monotonic() < deadline:
        time.sleep(0.25)
    if not acquired:
        running = session.scalars(
            sa.select(BillUpload).where(BillUpload.state.in_(_RUNNING)).order_by(BillUpload.id.desc()).limit(1)
        ).first()
        who = f" (#{running.id}, {running.file_name}, by {running.operator})" if running is not None else ""
        raise UploadBusy(f"another bill upload is writing to this database{who}: wait for it to finish")
    try:
        yield
    finally:
        lock.release()


def start_upload(*, session: Session, source: UploadSource, now: dt.datetime) -> tuple[BillUpload, BillUpload | None]:
    """Record a new upload (the lock held); returns it and the interrupted upload of the same file it finishes.

    Uploads left running by a process that died are marked interrupted first: holding the lock, this one knows
    no other is running.
    """
    session.execute(
        sa.update(BillUpload).where(BillUpload.state.in_(_RUNNING)).values(state=BillUploadState.INTERRUPTED)
    )
    resumed = session.scalars(
        sa.select(BillUpload)
        .where(
            BillUpload.file_sha256 == source.sha256,
            BillUpload.state.in_(_RESUMABLE),
            BillUpload.customers_written > 0,
            BillUpload.resumed_by_id.is_(None),
        )
        .order_by(BillUpload.id.desc())
        .limit(1)
    ).first()
    upload = BillUpload(
        file_name=source.name[:255],
        file_path=source.path[:1000],
        file_sha256=source.sha256,
        file_size=source.size,
        options=source.options,
        operator=source.operator[:100],
        state=BillUploadState.CHECKING,
        started_at=now,
    )
    session.add(upload)
    session.flush()
    if resumed is not None:
        resumed.resumed_by_id = upload.id
    session.flush()
    return upload, resumed


def list_uploads(*, session: Session, limit: int = 20) -> list[BillUpload]:
    """The latest uploads, newest first; one left running by a dead process shows as interrupted."""
    uploads = list(session.scalars(sa.select(BillUpload).order_by(BillUpload.id.desc()).limit(limit)))
    if any(upload.state in _RUNNING for upload in uploads) and not UploadLock(session).held_elsewhere():
        for upload in uploads:
            if upload.state in _RUNNING:
                upload.state = BillUploadState.INTERRUPTED
        session.flush()
    return uploads


def resumable_upload(*, session: Session, upload_id: int | None = None) -> BillUpload | None:
    """The upload ``--resume`` finishes: the one named, or the latest that did not finish and wrote something."""
    query = sa.select(BillUpload)
    if upload_id is not None:
        return session.get(BillUpload, upload_id)
    query = query.where(
        sa.or_(
            BillUpload.state.in_(_RESUMABLE),
            BillUpload.state.in_(_RUNNING),
        ),
        BillUpload.resumed_by_id.is_(None),
    )
    return session.scalars(query.order_by(BillUpload.id.desc()).limit(1)).first()


def last_finished_at(*, session: Session) -> dt.datetime | None:
    """When the last upload finished (for the "last successful bill upload" metric)."""
    return session.scalar(
        sa.select(sa.func.max(BillUpload.finished_at)).where(BillUpload.state == BillUploadState.FINISHED)
    )


def operator_name() -> str:
    """Who runs the command: the OS user on this host (uploads are run by people, from a shell)."""
    try:
        user = os.getlogin()
    except OSError:
        import getpass

        user = getpass.getuser()
    return f"{user}@{os.uname().nodename}"
