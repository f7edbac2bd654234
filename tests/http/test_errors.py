from biller_server.app import create_app
from tests.conftest import make_settings


def test_unhandled_error_is_a_500_without_a_stack_trace(sqlite_url):
    app = create_app(make_settings(sqlite_url))

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    response = app.test_client().get("/boom")
    assert response.status_code == 500
    assert response.json["status"] == "unable-to-fulfil-request"
    assert b"secret internals" not in response.data
    assert b"Traceback" not in response.data


def test_unknown_path_is_a_json_404(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert response.json == {"code": 404, "status": "path-not-found", "message": "No such endpoint."}


def test_database_outage_is_a_503_not_a_500():
    app = create_app(make_settings("postgresql+psycopg://postgres@127.0.0.1:1/none"))

    @app.get("/needs-db")
    def needs_db():
        from biller_server.extensions import get_db

        get_db().ping()
        return "never"

    response = app.test_client().get("/needs-db")
    assert response.status_code == 503
    assert response.json["status"] == "service-unavailable"
