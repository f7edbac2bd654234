import datetime as dt

from biller_server.app import create_app
from biller_server.extensions import DB_KEY
from biller_server.jobs.heartbeats import beat
from biller_server.persistence.migrate import upgrade
from biller_server.persistence.types import utcnow
from tests.conftest import make_settings


def test_healthz_answers_without_touching_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def _beat(session, name, seconds_ago):
    now = utcnow()
    beat(
        session=session,
        name=name,
        host="h",
        pid=1,
        started_at=now,
        last_poll_at=now - dt.timedelta(seconds=seconds_ago),
    )
    session.flush()


def test_readyz_is_ok_with_the_database_its_schema_and_a_polling_worker(client, session):
    _beat(session, "h:serve-8000", 1)

    response = client.get("/readyz")

    assert response.status_code == 200
    head = response.json["schema"]["expected"]
    assert response.json == {
        "status": "ok",
        "database": "reachable",
        "schema": {"status": "current", "revision": head, "expected": head},
        "workers": {"status": "ok", "polling": 1, "stale": [], "stale_after_seconds": 120.0},
    }


def test_readyz_reports_a_worker_that_stopped_polling_but_stays_200(client, session):
    _beat(session, "h:serve-8000", 1)
    _beat(session, "h:worker", 200)

    response = client.get("/readyz")

    assert response.status_code == 200  # the API still answers partners: an alert, not a balancer, acts on it
    assert response.json["status"] == "degraded"
    assert response.json["workers"]["status"] == "stale"
    assert [worker["name"] for worker in response.json["workers"]["stale"]] == ["h:worker"]
    assert response.json["workers"]["stale"][0]["seconds_since_poll"] >= 200


def test_readyz_says_when_no_worker_runs_at_all(client):
    response = client.get("/readyz")

    assert (response.status_code, response.json["status"]) == (200, "degraded")
    assert response.json["workers"]["status"] == "none"


def test_readyz_is_503_when_the_schema_is_behind_the_code(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    app = create_app(make_settings(url))
    upgrade(app.extensions[DB_KEY].engine, "0003")

    response = app.test_client().get("/readyz")

    assert response.status_code == 503
    assert response.json["status"] == "unavailable"
    assert response.json["schema"]["status"] == "behind" and response.json["schema"]["revision"] == "0003"
    app.extensions[DB_KEY].dispose()


def test_readyz_is_503_when_the_database_is_unreachable():
    # Nothing listens on port 1: the connection is refused at once.
    app = create_app(make_settings("postgresql+psycopg://postgres@127.0.0.1:1/none"))
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json == {"status": "unavailable", "database": "unreachable"}


def test_openapi_document_is_served(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.json["info"]["title"] == "biller-server"
    assert {tag["name"] for tag in response.json["tags"]} >= {"kaleidofin", "digiledge"}


def test_interactive_docs_page_is_served(client):
    response = client.get("/docs")
    assert response.status_code == 200
    assert b"swagger-ui" in response.data
