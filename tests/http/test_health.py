from biller_server.app import create_app
from tests.conftest import make_settings


def test_healthz_answers_without_touching_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_readyz_reports_a_reachable_database(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "reachable"}


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
