"""One upload of one file, as both the `bills upload` command and the console run it: open the file, write the
rejects file if asked, check (and, unless a dry run, write) through ``upload_bills``.

The caller says how it watches (``UploadHooks``: progress, each refused row, each change) and gives the session;
every rule stays in ``reader``, ``loader`` and ``store``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from biller_server.domain.upload.loader import Conflict, UploadReport, upload_bills
from biller_server.domain.upload.reader import RejectedRow, open_bill_file
from biller_server.domain.upload.rejects import RejectsFile
from biller_server.domain.upload.runs import UploadSource
from biller_server.domain.upload.store import BillChange, CustomerChange

WORKBOOK_SUFFIXES = (".xlsx", ".xlsm")


@dataclasses.dataclass
class FileOptions:
    """How a file is read: kept on the upload's record, so that a resumed upload reads it the same way."""

    sheet: str | None = None
    columns: dict[str, str] = dataclasses.field(default_factory=dict)
    date_order: str = "dmy"
    skip_invalid: bool = False

    def as_record(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_record(cls, recorded: dict[str, Any]) -> FileOptions:
        return cls(
            recorded.get("sheet"),
            dict(recorded.get("columns") or {}),
            recorded.get("date_order", "dmy"),
            bool(recorded.get("skip_invalid")),
        )


@dataclasses.dataclass
class UploadHooks:
    """What the caller watches. ``start_reading(size, unit)`` then ``read(position)`` while the file is read;
    ``stage(name)`` and ``written(done, total)`` from ``upload_bills``; every refused row and conflict to
    ``problem``; every change to ``change`` (listed in a dry run, or after writing when asked)."""

    start_reading: Callable[[int, str], None] = lambda _size, _unit: None
    read: Callable[[int], None] = lambda _position: None
    stage: Callable[[str], None] = lambda _stage: None
    written: Callable[[int, int], None] = lambda _done, _total: None
    problem: Callable[[RejectedRow | Conflict], None] | None = None
    change: Callable[[BillChange | CustomerChange], None] | None = None


@dataclasses.dataclass(frozen=True)
class FileUpload:
    report: UploadReport
    rejects_written: int  # rows in the rejects file (0 when none was asked for)
    ignored_columns: tuple[str, ...]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def is_workbook(path: Path) -> bool:
    return path.suffix.casefold() in WORKBOOK_SUFFIXES


def upload_file(
    path: Path,
    options: FileOptions,
    *,
    session: Callable[[], AbstractContextManager[Session]],
    today: dt.date,
    now: dt.datetime,
    dry_run: bool,
    operator: str,
    rejects_path: Path | None = None,
    hooks: UploadHooks | None = None,
    transaction_seconds: float = 0.1,
) -> FileUpload:
    """Check ``path`` and, unless ``dry_run``, write it (recorded in ``bill_uploads`` as ``operator``'s).

    The file is opened (and a file that cannot be a bill upload refused, UploadFileError) before ``session()``
    is asked for a session: it must keep one connection throughout (``Database.dedicated_session``).
    """
    hooks = hooks or UploadHooks()
    source = None
    if not dry_run:
        source = UploadSource(
            name=path.name,
            path=str(path.resolve()),
            sha256=file_sha256(path),
            size=path.stat().st_size,
            operator=operator,
            options=options.as_record(),
        )
    with contextlib.ExitStack() as stack:
        rows = stack.enter_context(
            open_bill_file(
                path,
                today=today,
                sheet=options.sheet,
                columns=options.columns,
                date_order=options.date_order,  # type: ignore[arg-type]  # dmy or mdy, checked by the callers
                on_progress=hooks.read,
                keep_records=rejects_path is not None,
            )
        )
        rejects = RejectsFile(rejects_path, rows.header) if rejects_path is not None else None
        if rejects is not None:
            stack.callback(rejects.close)

        def problem(found: RejectedRow | Conflict) -> None:
            if rejects is not None:
                rejects.add(found.line, found.record, found.reasons)
            if hooks.problem is not None:
                hooks.problem(found)

        hooks.start_reading(rows.size, "rows" if is_workbook(path) else "bytes")
        with session() as books:
            report = upload_bills(
                session=books,
                rows=rows,
                now=now,
                dry_run=dry_run,
                skip_invalid=options.skip_invalid,
                on_problem=problem,
                on_change=hooks.change,
                on_stage=hooks.stage,
                on_written=hooks.written,
                source=source,
                transaction_seconds=transaction_seconds,
            )
        ignored = tuple(rows.ignored_columns)
    return FileUpload(report, rejects.count if rejects is not None else 0, ignored)
