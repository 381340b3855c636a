"""The OpenAPI document (GET /api/v1/openapi.json) and its page (GET /api/v1/docs) say
exactly what the API does: every /api/v1 route of the URL map with its methods and
nothing else, and every error code the API's modules can answer with. What each
answer looks like is checked by tests/test_openapi_schemathesis.py."""

import ast
import re
from pathlib import Path

import orjson

from flagpal_dash import abilities, api, validation
from flagpal_dash.api import forward_auth, management, self_rotation
from flagpal_dash.api.errors import MEDIA_TYPE, ApiError
from flagpal_dash.core import tokens
from flagpal_dash.core.self_rotation import AlreadyRotated
from flagpal_dash.tokens.listing import STATUSES

from .support import page, text_of

API_PACKAGE = Path(api.__file__).parent
# Flask's own, on every rule: HEAD answers as GET does (the document says so), and
# OPTIONS where a rule does not take it itself.
AUTOMATIC = {"HEAD"}
# The functions whose arguments name an error code, and where the code is.
CODE_ARGUMENT = {"ApiError": 1, "Refused": 1, "unauthorized": 0, "unusable": 0}
# Raised from a fault in the code, never from a request: schemathesis proves no
# request gets it (no 5xx but the documented 503).
NOT_FROM_REQUESTS = {"internal_error"}


def documented(client) -> dict:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return orjson.loads(response.data)


def template(rule) -> str:
    """A Flask rule's path with its variables as OpenAPI's ``{}`` (names aside)."""
    return re.sub(r"<[^>]+>", "{}", rule.rule)


def test_the_document_has_every_api_route_and_method_and_nothing_else(app, client):
    in_url_map = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        methods = set(rule.methods) - AUTOMATIC
        if rule.provide_automatic_options:
            methods.discard("OPTIONS")
        in_url_map |= {(template(rule), method) for method in methods}
    paths = documented(client)["paths"]
    in_document = {
        (re.sub(r"\{[^}]+\}", "{}", path), method.upper())
        for path, operations in paths.items()
        for method in operations
    }
    assert in_document == in_url_map
    # The forward-auth path's abilities are those its rule takes.
    [rule] = [r for r in app.url_map.iter_rules() if r.rule.startswith("/api/v1/auth/<")]
    for method in ("get", "options"):
        [parameter] = [
            p for p in paths["/api/v1/auth/{ability}"][method]["parameters"] if p["in"] == "path"
        ]
        assert parameter["schema"]["enum"] == list(forward_auth.FIXED_ABILITIES)
        assert f"any({', '.join(parameter['schema']['enum'])})" in rule.rule


def codes_in_the_api_modules() -> set[str]:
    """Every error code written in the API's modules (and the app's error handlers):
    the code argument of each ApiError, Refused, unauthorized and unusable call, and
    the token check's refusals."""
    found = set()
    for path in [*API_PACKAGE.rglob("*.py"), API_PACKAGE.parent / "errors.py"]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", getattr(node.func, "attr", None))
                position = CODE_ARGUMENT.get(name)
                if position is not None and len(node.args) > position:
                    argument = node.args[position]
                    if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                        found.add(argument.value)
            if isinstance(node, ast.Dict):  # REFUSALS: state -> (code, title, detail)
                for value in node.values:
                    if isinstance(value, ast.Tuple) and len(value.elts) == 3:
                        first = value.elts[0]
                        if isinstance(first, ast.Constant) and isinstance(first.value, str):
                            found.add(first.value)
    return found


def codes_in(document) -> set[str]:
    """Every code a response schema of the document allows."""
    found = set()

    def walk(node):
        if isinstance(node, dict):
            if "code" in node and isinstance(node["code"], dict) and "enum" in node["code"]:
                found.update(node["code"]["enum"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document["paths"])
    return found


def test_every_error_code_the_code_can_answer_with_is_documented(client):
    written = codes_in_the_api_modules()
    # Not literals where they are raised: the core's refusal, the routing errors.
    raised_otherwise = {
        AlreadyRotated.code,
        "not_found",
        *tokens.CannotRotate.CODES,
        tokens.NameTaken("x").code,
    }
    assert {"token_missing", "token_revoked", "invalid_rotation", "method_invalid"} <= written
    assert (written | raised_otherwise) - NOT_FROM_REQUESTS <= codes_in(documented(client))


def test_shared_facts_come_from_the_code(client):
    document = documented(client)
    assert document["openapi"] == "3.1.0"
    schemas = document["components"]["schemas"]
    ability_items = schemas["ApiToken"]["properties"]["attributes"]["properties"]["abilities"]
    assert ability_items["items"]["enum"] == list(abilities.LABELS)
    assert "rotate" in ability_items["items"]["enum"]
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    rotate = document["paths"]["/api/v1/token/rotate"]["post"]
    assert rotate["security"] == [{"bearer": []}]
    assert set(rotate["responses"]) == {
        "201",
        "400",
        "401",
        "403",
        "409",
        "413",
        "415",
        "422",
        "503",
    }
    assert document["paths"]["/api/v1/tokens/revoke"]["post"]["security"] == []


def accepted(grace: str) -> bool:
    try:
        self_rotation.grace_of(grace)
    except ApiError:
        return False
    return True


def test_the_grace_pattern_accepts_exactly_what_the_code_does(client):
    schema = documented(client)["components"]["schemas"]["RotationRequest"]
    pattern = schema["properties"]["data"]["properties"]["attributes"]["properties"]["grace"]
    tried = ["now", "Now", "", "7d", "PT1H", " 1h", "1h ", "1H", "01h", "0h", "0m", "1.5h"]
    tried += [f"{n}{unit}" for n in range(3000) for unit in "mh"]
    agree = {
        grace: bool(re.search(pattern["pattern"], grace)) == accepted(grace) for grace in tried
    }
    assert all(agree.values()), [grace for grace, same in agree.items() if not same]
    assert accepted("24h") and accepted("1440m") and not accepted("25h")


def test_a_wrong_method_names_the_right_ones(client):
    """HTTP requires Allow on 405 (schemathesis found it missing on the JSON:API 405)."""
    response = client.delete("/api/v1/token")
    assert response.status_code == 405
    assert response.mimetype == "application/vnd.api+json"
    assert response.headers["Allow"] == "GET, HEAD, OPTIONS"
    assert response.get_json(force=True)["errors"][0]["code"] == "method_not_allowed"
    assert client.get("/api/v1/token/rotate").headers["Allow"] == "OPTIONS, POST"


def test_the_docs_page_lists_every_operation_with_its_answers(client):
    document = documented(client)
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    html = page(response)
    assert html.find("script", src=re.compile(r"^https?:")) is None, "no script from elsewhere"
    listed = [text_of(code) for code in html.select("section.api-operation h2 code")]
    assert listed == [
        f"{method.upper()} {path}"
        for path, operations in document["paths"].items()
        for method in operations
    ]
    rotate = html.find(id="rotateToken")
    answers = [text_of(dt.find("code")) for dt in rotate.select("dl.api-responses dt")]
    assert answers == ["201", "400", "401", "403", "409", "413", "415", "422", "503"]
    assert "token_already_rotated" in [text_of(code) for code in rotate.find_all("code")]
    link = html.find("a", href="/api/v1/openapi.json")
    assert link is not None


def test_the_management_routes_take_a_personal_token_and_say_what_they_refuse(client):
    """Its own security scheme (a project token is refused there), its query
    parameters with the bounds the code checks, and 400s naming the parameter."""
    document = documented(client)
    schemes = document["components"]["securitySchemes"]
    assert set(schemes) == {"bearer", "personalToken"}
    assert "flagpal_pat_" in schemes["personalToken"]["description"]
    operations = {
        (path, method): operation
        for path, methods in document["paths"].items()
        if path.startswith("/api/v1/projects")
        for method, operation in methods.items()
    }
    assert len(operations) == 9
    paths = {path: operation for (path, method), operation in operations.items() if method == "get"}
    assert len(paths) == 6
    for (path, _), operation in operations.items():
        assert operation["security"] == [{"personalToken": []}], path
        unauthorized = operation["responses"]["401"]["content"][MEDIA_TYPE]["schema"]
        codes = unauthorized["properties"]["errors"]["items"]["allOf"][1]["properties"]["code"]
        assert {"personal_token_required", "account_deactivated", "token_missing"} <= set(
            codes["enum"]
        )
        assert "invalid_parameter" in text_of_codes(operation["responses"]["400"])
    audit = paths["/api/v1/projects/{slug}/audit-events"]
    assert set(audit["responses"]) == {"200", "400", "401", "403", "404", "503"}
    assert "403" not in paths["/api/v1/projects/{slug}/tokens"]["responses"]
    assert "404" not in paths["/api/v1/projects"]["responses"]
    query = {
        p["name"]: p["schema"]
        for p in paths["/api/v1/projects/{slug}/tokens"]["parameters"]
        if p["in"] == "query"
    }
    assert set(query) == {"filter[name]", "filter[status]", "page[number]", "page[size]"}
    assert query["filter[status]"]["enum"] == list(STATUSES)
    assert query["page[size]"]["maximum"] == management.MAX_PAGE_SIZE
    source = document["components"]["schemas"]["Error"]["properties"]["source"]
    assert set(source["properties"]) == {"pointer", "parameter"}
    html = page(client.get("/api/v1/docs"))
    assert "personal access token" in text_of(html.find(id="listProjects"))
    assert "project API token" in text_of(html.find(id="describeToken"))


def text_of_codes(response: dict) -> list[str]:
    schema = response["content"][MEDIA_TYPE]["schema"]
    return schema["properties"]["errors"]["items"]["allOf"][1]["properties"]["code"]["enum"]


def test_the_token_writes_are_documented_with_their_bodies_and_answers(client):
    document = documented(client)
    paths = document["paths"]
    create = paths["/api/v1/projects/{slug}/tokens"]["post"]
    revoke = paths["/api/v1/projects/{slug}/tokens/{token_id}"]["delete"]
    rotate = paths["/api/v1/projects/{slug}/tokens/{token_id}/rotate"]["post"]
    assert set(create["responses"]) == {
        "201",
        "400",
        "401",
        "403",
        "404",
        "413",
        "415",
        "422",
        "503",
    }
    assert set(revoke["responses"]) == {"200", "400", "401", "403", "404", "503"}
    assert set(rotate["responses"]) == set(create["responses"]) | {"409"}
    assert text_of_codes(rotate["responses"]["409"]) == list(tokens.CannotRotate.CODES)
    assert "name_taken" in text_of_codes(create["responses"]["422"])
    for operation in (create, rotate):
        created = operation["responses"]["201"]
        assert set(created["headers"]) == {"Location", "Cache-Control"}
        assert set(created["links"]) == {
            "showProjectToken",
            "revokeProjectToken",
            "rotateProjectToken",
        }
        meta = created["content"][MEDIA_TYPE]["schema"]["properties"]["meta"]
        assert meta["required"] == ["value"]
    assert create["requestBody"]["required"] and not rotate["requestBody"]["required"]
    schemas = document["components"]["schemas"]
    grace = schemas["RotateRequest"]["properties"]["data"]["properties"]["attributes"]
    assert grace["properties"]["grace"]["enum"] == [g.value for g in tokens.GRACE_PERIODS]


def test_the_name_pattern_takes_exactly_the_names_the_rule_does(client):
    schema = documented(client)["components"]["schemas"]["NewTokenRequest"]
    name = schema["properties"]["data"]["properties"]["attributes"]["properties"]["name"]
    tried = ["", " ", "\u00a0", "\u3000", "a", " a ", "a\tb", "a\u0085", "\u200b", "\ufeff"]
    tried += ["\ta\n", "\x1fa", "a \t b", "\t\x85 a \u3000", "a\x1c"]
    tried += ["Shop backend (production)", "x" * 100, "é", "\x7f", "a\x9f", "\u2028"]
    tried += [chr(code) for code in range(0x2100)]
    for value in tried:
        try:
            validation.token_name(value)
            accepted = True
        except validation.Invalid:
            accepted = False
        fits = bool(re.search(name["pattern"], value)) and len(value) <= name["maxLength"]
        assert fits == accepted, repr(value)
