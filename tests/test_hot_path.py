"""The token API's hot routes are answered before Flask (api/hot_path.py): the same
answers as the Flask views give, every other request still reaches Flask, and a fault
is a logged 500 document, never a traceback to the client."""

import logging

import pytest
from flask import request_started
from werkzeug.test import Client

from flagpal_dash.api import hot_path
from flagpal_dash.api.hot_path import HotPath
from flagpal_dash.security import HEADERS, SecurityHeaders

from .support import issue_token

MEDIA_TYPE = "application/vnd.api+json"


def hot_path_of(app) -> HotPath:
    return app.extensions[hot_path.EXTENSION_KEY_HOT_PATH]


@pytest.fixture
def value(team):
    _, value = issue_token(team.project, "Shop backend", abilities=frozenset({"read"}))
    return value


def requests_for(value: str) -> list[tuple[str, str, dict]]:
    bearer = {"Authorization": f"Bearer {value}"}
    original = {"X-Original-Method": "GET", "X-Original-URI": "/flags"}
    return [
        ("GET", "/api/v1/token", bearer),
        ("HEAD", "/api/v1/token", bearer),
        ("GET", "/api/v1/token", {}),
        ("GET", "/api/v1/token", {"Authorization": "Bearer flagpal_nope"}),
        ("GET", "/api/v1/token", {"Authorization": "Basic dXNlcjpwYXNz"}),
        ("GET", "/api/v1/token?access_token=x", bearer),
        ("GET", "/api/v1/auth", bearer | original),
        ("HEAD", "/api/v1/auth", bearer | original),
        ("OPTIONS", "/api/v1/auth/read", bearer),
        ("GET", "/api/v1/auth/write", bearer),
        ("GET", "/api/v1/auth", bearer),
        ("GET", "/api/v1/auth?ability=read", bearer | original),
        ("GET", "/api/v1/auth", bearer | {"X-Original-Method": "GET", "X-Original-URI": "/a/../b"}),
        ("GET", "/api/v1/auth", bearer | {"X-Original-Method": "POST", "X-Original-URI": "/f"}),
        ("OPTIONS", "/api/v1/auth", {}),
    ]


def comparable(response) -> tuple:
    # Flask adds `Vary: Cookie` to whatever it serves (Flask-Login looks at the session
    # after every request), and a Content-Type to an empty 204: the hot path, which reads
    # no cookie and has no content to type, does neither.
    headers = {
        (name, value)
        for name, value in response.headers.items()
        if name != "Vary" and not (response.status_code == 204 and name == "Content-Type")
    }
    return response.status_code, headers, response.get_data()


def test_the_hot_path_answers_as_the_flask_views_do(app, client, value):
    # Flask's own application, in the same security headers as the app's.
    flask_only = Client(SecurityHeaders(hot_path_of(app).wsgi_app, HEADERS))
    for method, path, headers in requests_for(value):
        # Each token answer shows the last use, written once a minute: the same moment.
        hot = client.open(path, method=method, headers=headers)
        through_flask = flask_only.open(path, method=method, headers=headers)
        assert comparable(hot) == comparable(through_flask), (method, path)
        assert "Vary" not in hot.headers
        assert "Set-Cookie" not in hot.headers


def test_the_answers_are_the_token_apis_documents(client, value):
    ok = client.get("/api/v1/token", headers={"Authorization": f"Bearer {value}"})
    assert ok.status_code == 200
    assert ok.headers["Content-Type"] == MEDIA_TYPE
    assert ok.get_json(force=True)["data"]["attributes"]["name"] == "Shop backend"
    head = client.head("/api/v1/token", headers={"Authorization": f"Bearer {value}"})
    assert head.status_code == 200 and head.get_data() == b""
    assert head.headers["Content-Length"] == ok.headers["Content-Length"]
    allowed = client.get(
        "/api/v1/auth",
        headers={
            "Authorization": f"Bearer {value}",
            "X-Forwarded-Method": "GET",
            "X-Forwarded-Uri": "/flags",
        },
    )
    assert allowed.status_code == 204
    assert allowed.headers["X-FlagPal-Project"] == "shop"
    assert "Content-Type" not in allowed.headers
    # Every answer has the headers every answer has (security.py wraps the hot path).
    for response in (ok, head, allowed):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")


def test_the_hot_routes_skip_flask_and_every_other_request_reaches_it(app, client, value):
    seen = []

    def started(sender, **extra):
        from flask import request

        seen.append((request.method, request.path))

    request_started.connect(started, app)
    try:
        bearer = {"Authorization": f"Bearer {value}"}
        client.get("/api/v1/token", headers=bearer)
        client.head("/api/v1/token", headers=bearer)
        client.get("/api/v1/auth/read", headers=bearer)
        client.options("/api/v1/auth/read", headers=bearer)
        assert seen == []
        # Other methods, other paths and near misses go to Flask, which routes them.
        assert client.options("/api/v1/token").headers["Allow"]
        assert client.post("/api/v1/token", headers=bearer).status_code == 405
        assert client.get("/api/v1/auth/", headers=bearer).status_code == 404
        assert client.get("/api/v1/auth/rotate", headers=bearer).status_code == 404
        assert client.get("/api/v1/projects", headers=bearer).status_code == 401
        assert client.get("/healthz").status_code == 200
    finally:
        request_started.disconnect(started, app)
    assert seen == [
        ("OPTIONS", "/api/v1/token"),
        ("POST", "/api/v1/token"),
        ("GET", "/api/v1/auth/"),
        ("GET", "/api/v1/auth/rotate"),
        ("GET", "/api/v1/projects"),
        ("GET", "/healthz"),
    ]


def test_a_fault_is_a_logged_500_document(app, client, value, monkeypatch, caplog):
    def broken(token):
        raise RuntimeError("a bug in the answer")

    route = hot_path_of(app).routes["/api/v1/token"]
    monkeypatch.setitem(hot_path_of(app).routes, "/api/v1/token", route._replace(answer=broken))
    with caplog.at_level(logging.ERROR):
        response = client.get("/api/v1/token", headers={"Authorization": f"Bearer {value}"})
    assert response.status_code == 500
    assert response.headers["Content-Type"] == MEDIA_TYPE
    [error] = response.get_json(force=True)["errors"]
    assert error["code"] == "internal_error"
    assert "bug" not in response.get_data(as_text=True)
    [record] = [r for r in caplog.records if r.getMessage() == "Unhandled error"]
    assert record.exc_info and "a bug in the answer" in str(record.exc_info[1])
    assert value not in caplog.text


def test_the_route_table_is_the_flask_routes(app):
    """Each path the hot path answers is a route of the Flask app with the same view,
    so the OpenAPI document and the route matrix describe what it serves."""
    adapter = app.url_map.bind("localhost")
    for path, route in hot_path.routes(app.config["METRICS_PATH"]).items():
        for method in route.methods:
            endpoint, _ = adapter.match(path, method=method)
            assert endpoint == route.endpoint, (path, method)
