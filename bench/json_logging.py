"""JSON log lines: biller_server's own formatter against python-json-logger, on the request path's access line.

Every request writes one access line (biller_server/http/logging.py), so the formatter is on the hot path. This
formats the same record, with the same fields, through each formatter and through a whole handler (the secrets
filter, the formatter, the write), and prints microseconds per line. Run:

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python bench/json_logging.py [--lines 200000]
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import platform
import statistics
import time

from pythonjsonlogger.json import JsonFormatter

from biller_server.http.logging import JSONFormatter, RedactSecrets

FIELDS = {
    "request_id": "5f0c8e1fb7f84a55a0c4e1b3f3f0c0de",
    "method": "POST",
    "path": "/bills/fetchReceipt",
    "status": 200,
    "duration_ms": 3.127,
    "remote_addr": "10.20.0.7",
    "channel": "kaleidofin",
    "outcome": "receipt_issued",
    "partner_ref": "127829461946",
}
SECRETS = ["dev-kaleidofin-key-0123456789", "dev-digiledge-key-0123456789", "webhook-secret-0123456789abcdef"]


def ours() -> tuple[logging.Formatter, logging.LogRecord]:
    record = logging.LogRecord("biller_server.access", logging.INFO, __file__, 1, "request", None, None)
    record.fields = dict(FIELDS)
    return JSONFormatter(), record


def library() -> tuple[logging.Formatter, logging.LogRecord]:
    # The same line: ts, level, logger, message, then the fields at the top level (extra= puts them on the record).
    formatter = JsonFormatter(
        "{asctime}{levelname}{name}{message}",
        style="{",
        rename_fields={"asctime": "ts", "levelname": "level", "name": "logger"},
        datefmt="%Y-%m-%dT%H:%M:%S",
    )
    record = logging.LogRecord("biller_server.access", logging.INFO, __file__, 1, "request", None, None)
    record.__dict__.update(FIELDS)
    return formatter, record


def per_line(formatter: logging.Formatter, record: logging.LogRecord, lines: int, *, handler: bool) -> float:
    stream = io.StringIO()
    out = logging.StreamHandler(stream)
    out.setFormatter(formatter)
    out.addFilter(RedactSecrets(SECRETS))
    started = time.perf_counter()
    if handler:
        for _ in range(lines):
            out.handle(record)
            if stream.tell() > 1 << 22:
                stream.seek(0)
                stream.truncate()
    else:
        for _ in range(lines):
            formatter.format(record)
    return (time.perf_counter() - started) / lines * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    for name, make in (("biller_server JSONFormatter", ours), ("python-json-logger JsonFormatter", library)):
        formatter, record = make()
        line = json.loads(formatter.format(record))
        assert {"level", "logger", "message", *FIELDS} <= set(line), line
        fmt = [per_line(formatter, record, args.lines, handler=False) for _ in range(args.rounds)]
        full = [per_line(formatter, record, args.lines, handler=True) for _ in range(args.rounds)]
        size = len(formatter.format(record))
        print(f"| {name} | {statistics.median(fmt):.2f} | {statistics.median(full):.2f} | {size} |")
    print(f"\n({args.lines:,} lines x {args.rounds} rounds, median; Python {platform.python_version()})")


if __name__ == "__main__":
    main()
