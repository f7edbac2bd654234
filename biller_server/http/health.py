"""Liveness and readiness for load balancers, orchestrators and people.

``/readyz`` answers 503 only when this host cannot answer the partners: the database does not answer, or its schema
is behind the code (a request would fail on a missing table or column). A stale worker is reported in the body
(``"status": "degraded"``) but the answer stays 200: taking the API out of the balancer would refuse payments
without confirming a single one. Alert on it instead (``BillerNoWorker``, ``BillerWorkerStale``).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from biller_server.domain.health import heartbeats
from biller_server.extensions import get_db, get_settings
from biller_server.persistence.migrate import schema_state
from biller_server.persistence.types import utcnow

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz() -> ResponseReturnValue:
    """The process is alive."""
    return jsonify(status="ok")


@blueprint.get("/readyz")
def readyz() -> ResponseReturnValue:
    """Whether this host can serve: the database, its schema, and (reported, not failing) the workers."""
    try:
        # One session, one connection: the schema's revision, then (if it is current) the workers' heartbeats.
        with get_db().new_session() as session:
            state = schema_state(session.connection())
            ready = state.status not in ("missing", "behind")
            workers = _workers(session, get_settings().worker_stale_seconds) if ready else None
    except Exception:
        return jsonify(status="unavailable", database="unreachable"), 503
    schema = {"status": state.status, "revision": state.revision, "expected": state.head}
    if workers is None:
        # Run `biller-server db upgrade` (a release job, or serve on a single host).
        return jsonify(status="unavailable", database="reachable", schema=schema), 503
    status = "ok" if workers["status"] == "ok" else "degraded"
    return jsonify(status=status, database="reachable", schema=schema, workers=workers)


def _workers(session: Session, stale_after: float) -> dict[str, Any]:
    """``ok`` when every worker heard from polled within ``stale_after`` seconds; ``stale`` names the ones that did
    not; ``none`` when no worker runs at all (nothing confirms payments or sends deliveries)."""
    now = utcnow()
    beats = heartbeats(session, now=now)
    stale = [
        {"name": beat.name, "seconds_since_poll": round(beat.age_seconds(now), 1)}
        for beat in beats
        if beat.is_stale(now, stale_after)
    ]
    status = "none" if not beats else ("stale" if stale else "ok")
    return {"status": status, "polling": len(beats) - len(stale), "stale": stale, "stale_after_seconds": stale_after}
