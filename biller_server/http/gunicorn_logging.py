"""gunicorn's own log lines ("Booting worker", "Worker exiting", a worker killed) as JSON, like every other line.

gunicorn's logger class keeps its handlers and levels (``errorlog``, ``loglevel``); only the format changes, to the
application's ``JSONFormatter``. ``serve`` and ``config/gunicorn.conf.py`` name it as ``logger_class``.
"""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

from biller_server.http.logging import JSONFormatter


class JSONLogger(Logger):  # type: ignore[misc]
    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        formatter = JSONFormatter()
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(formatter)


LOGGER_CLASS = f"{__name__}.{JSONLogger.__name__}"
