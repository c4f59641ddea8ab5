"""Request hygiene (docs/security.md; OWASP API8, ASVS V5/V7/V9/V13): strict content types
(415), body size limit (413) on a real socket, security headers, CORS closed by default, tokens
of other algorithms, audiences and deployments refused, and no secret or raw identifier in the
logs of a realistic flow."""

from __future__ import annotations

import datetime as dt
import io
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
import structlog
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app import logging as app_logging
from app.api.content_type import FORM, FORM_DETAIL, JSON, JSON_DETAIL, declared_media_types
from app.api.middleware import API_CSP, SECURITY_HEADERS
from app.auth.tokens import issue_access_token, sign_statement
from app.clock import FixedClock
from app.config import Settings
from app.main import create_app
from app.models import AuditEvent, User
from tests.api.test_conventions import ME, TOKEN, USERS, assert_problem, user_body
from tests.conftest import PASSWORD, T0, _key
from tests.registry.builders import make_agency, official_body
from tests.security.conftest import serve

ES_JSON_DETAIL = "Envíe el cuerpo de la solicitud como JSON (Content-Type: application/json)"


def _user_count(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        return len(session.scalars(select(User.id)).all())


# --- Strict content types (415) ----------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
        "application/json-patch+json",
        "application/json; charset=latin-1",
        "json",
    ],
)
def test_json_body_in_another_media_type_is_415(
    client: TestClient,
    make_user: Any,
    factory: sessionmaker[Session],
    content_type: str | None,
) -> None:
    """A JSON operation reads its body only as application/json: anything else is refused
    before the route runs (so nothing is created), naming the accepted type."""
    admin = make_user("admin")
    before = _user_count(factory)
    headers = {**admin.headers}
    if content_type is not None:
        headers["Content-Type"] = content_type
    payload = httpx.Request("POST", "/", json=user_body()).read()
    response = client.post(USERS, content=payload, headers=headers)
    body = assert_problem(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert body["detail"] == JSON_DETAIL
    assert response.headers["accept-post"] == "application/json"
    assert _user_count(factory) == before


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "Application/JSON; Charset=UTF-8"],
)
def test_json_body_as_application_json_is_accepted(
    client: TestClient, make_user: Any, content_type: str
) -> None:
    admin = make_user("admin")
    payload = httpx.Request("POST", "/", json=user_body()).read()
    response = client.post(
        USERS, content=payload, headers={**admin.headers, "Content-Type": content_type}
    )
    assert response.status_code == 201, response.text


def test_patch_in_another_media_type_is_415_with_accept_patch(
    client: TestClient, make_user: Any
) -> None:
    admin = make_user("admin")
    created = client.post(USERS, json=user_body(), headers=admin.headers)
    assert created.status_code == 201
    response = client.patch(
        f"{USERS}/{created.json()['id']}",
        content=b'{"roles": ["admin"]}',
        headers={
            **admin.headers,
            "Content-Type": "application/merge-patch+json",
            "If-Match": created.headers["etag"],
        },
    )
    assert_problem(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert response.headers["accept-patch"] == "application/json"


def test_token_endpoint_takes_a_form_only(client: TestClient, make_user: Any) -> None:
    """The OAuth2 password flow is a form (RFC 6749 §4.3.2); JSON there is refused, and
    form bodies are refused everywhere else."""
    user = make_user("auditor")
    creds = {"username": user.username, "password": PASSWORD}
    as_json = client.post(TOKEN, json=creds)
    body = assert_problem(as_json, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert body["detail"] == FORM_DETAIL
    assert as_json.headers["accept-post"] == "application/x-www-form-urlencoded"
    assert client.post(TOKEN, data=creds).status_code == 200
    admin = make_user("admin")
    assert_problem(client.post(USERS, data={"username": "x"}, headers=admin.headers), 415)


def test_415_speaks_spanish(client: TestClient, make_user: Any) -> None:
    admin = make_user("admin")
    response = client.post(
        USERS,
        content=b"{}",
        headers={**admin.headers, "Content-Type": "text/plain", "Accept-Language": "es"},
    )
    body = assert_problem(response, 415)
    assert body["detail"] == ES_JSON_DETAIL
    assert body["title"] == "Tipo de contenido no admitido"


def test_requests_without_a_body_need_no_content_type(client: TestClient, make_user: Any) -> None:
    user = make_user("auditor")
    assert client.post("/api/v1/auth/revoke", headers=user.headers).status_code == 204


def test_the_middleware_enforces_what_the_document_declares(app: Any) -> None:
    """The rule has no exception list: each operation's accepted media types are those of its
    ``requestBody`` in the OpenAPI document (JSON, the token form, a file upload's types), and
    the form is accepted on ``/auth/token`` only."""
    documented = {
        (method.upper(), path): set(op["requestBody"]["content"])
        for path, item in app.openapi()["paths"].items()
        for method, op in item.items()
        if "requestBody" in op
    }
    enforced = {}
    for ctx in iter_route_contexts(app.routes):
        route = ctx.original_route
        if isinstance(route, APIRoute) and declared_media_types(route) is not None:
            for method in ctx.methods or ():
                enforced[(method, ctx.path)] = set(declared_media_types(route) or ())
    assert documented
    assert enforced == documented
    with_form = {k for k, v in documented.items() if FORM in v}
    assert with_form == {("POST", TOKEN)}
    assert sum(v == {JSON} for v in documented.values()) >= len(documented) - 3


def test_a_file_upload_takes_its_declared_types_only(
    app: Any, client: TestClient, make_user: Any
) -> None:
    """A route that declares its own body types in the document (the bulk import) is held to
    them as JSON routes are to JSON."""
    imports = [p for p in app.openapi()["paths"] if p.endswith("/imports")]
    if not imports:
        pytest.skip("no import route in this build")
    admin = make_user("admin")
    url = f"{imports[0]}?kind=officials&format=csv"
    refused = client.post(url, json={"rows": []}, headers=admin.headers)
    assert_problem(refused, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert "text/csv" in refused.headers["accept-post"]
    csv = client.post(url, content=b"x\n", headers={**admin.headers, "Content-Type": "text/csv"})
    assert csv.status_code != 415, csv.text


# --- Body size (413) on a real server ----------------------------------------------------------


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_body_over_the_limit_is_413_on_a_real_socket(
    settings: Settings, clock: FixedClock, make_user: Any, chunked: bool
) -> None:
    """Through uvicorn, a body sent with Transfer-Encoding: chunked (no Content-Length) is cut
    off at the limit as surely as one that announces its length."""
    admin = make_user("admin")
    app = create_app(settings.model_copy(update={"max_body_bytes": 512}), clock=clock)
    payload = httpx.Request("POST", "/", json=user_body(password="p" * 4000)).read()

    def pieces() -> Iterator[bytes]:
        for i in range(0, len(payload), 500):
            yield payload[i : i + 500]

    with serve(app) as base, httpx.Client(base_url=base, timeout=30) as http:
        headers = {**admin.headers, "Content-Type": "application/json"}
        response = http.post(USERS, content=pieces() if chunked else payload, headers=headers)
        assert ("transfer-encoding" in response.request.headers) is chunked
        assert_problem(response, 413, "PAYLOAD_TOO_LARGE")
        small = http.post(USERS, json=user_body(), headers=admin.headers)
        assert small.status_code == 201, small.text


# --- Security headers -------------------------------------------------------------------------


def _assert_security_headers(response: httpx.Response, *, docs: bool = False) -> None:
    for name, value in SECURITY_HEADERS:
        assert response.headers.get(name.decode()) == value.decode(), name
    csp = response.headers.get(API_CSP[0].decode())
    if docs:
        assert csp is None
    else:
        assert csp == API_CSP[1].decode()


def test_security_headers_on_every_kind_of_answer(
    client: TestClient, make_user: Any, settings: Settings, clock: FixedClock
) -> None:
    admin = make_user("admin")
    answers = [
        client.get("/healthz"),
        client.get("/openapi.json"),
        client.get(ME, headers=admin.headers),
        client.get(ME),  # 401
        client.get("/api/v1/no-such-thing"),  # 404
        client.post(USERS, content=b"{}", headers={**admin.headers, "Content-Type": "text/plain"}),
        client.post(USERS, json={"username": 1}, headers=admin.headers),  # 422
    ]
    small = create_app(settings.model_copy(update={"max_body_bytes": 64}), clock=clock)
    try:
        with TestClient(small, raise_server_exceptions=False) as c:
            answers.append(c.post(USERS, json=user_body(), headers=admin.headers))  # 413
    finally:
        small.state.engine.dispose()
    assert [r.status_code for r in answers] == [200, 200, 200, 401, 404, 415, 422, 413]
    for response in answers:
        _assert_security_headers(response)
    _assert_security_headers(client.get("/docs"), docs=True)


# --- CORS ---------------------------------------------------------------------------------------


def _preflight(client: TestClient, origin: str) -> httpx.Response:
    return client.options(
        USERS,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Authorization, Content-Type",
        },
    )


def test_cors_is_closed_by_default(client: TestClient, make_user: Any) -> None:
    """No origin is allowed unless configured: a browser page elsewhere cannot call the API."""
    admin = make_user("admin")
    preflight = _preflight(client, "https://evil.example")
    assert "access-control-allow-origin" not in preflight.headers
    simple = client.get(ME, headers={**admin.headers, "Origin": "https://evil.example"})
    assert simple.status_code == 200
    assert "access-control-allow-origin" not in simple.headers


def test_cors_opens_only_to_configured_origins(
    settings: Settings, clock: FixedClock, make_user: Any
) -> None:
    allowed = "https://rh.example.gob.mx"
    admin = make_user("admin")
    app = create_app(settings.model_copy(update={"cors_origins": [allowed]}), clock=clock)
    try:
        with TestClient(app, raise_server_exceptions=False) as c:
            ok = _preflight(c, allowed)
            assert ok.status_code == 200
            assert ok.headers["access-control-allow-origin"] == allowed
            assert "POST" in ok.headers["access-control-allow-methods"]
            assert "access-control-allow-credentials" not in ok.headers
            simple = c.get(ME, headers={**admin.headers, "Origin": allowed})
            assert simple.headers["access-control-allow-origin"] == allowed
            assert "etag" in simple.headers["access-control-expose-headers"].lower()

            refused = _preflight(c, "https://evil.example")
            assert refused.status_code == 400
            assert "access-control-allow-origin" not in refused.headers
            other = c.get(ME, headers={**admin.headers, "Origin": "https://evil.example"})
            assert "access-control-allow-origin" not in other.headers
    finally:
        app.state.engine.dispose()


# --- Tokens from elsewhere ----------------------------------------------------------------------


def _claims(user_id: uuid.UUID, settings: Settings, **changes: Any) -> dict[str, Any]:
    at = int(T0.timestamp())
    claims = {
        "sub": str(user_id),
        "ver": 1,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": at,
        "nbf": at,
        "exp": at + 600,
        "jti": uuid.uuid4().hex,
    }
    claims.update(changes)
    return claims


def test_a_token_issued_by_another_deployment_is_refused(
    settings: Settings, clock: FixedClock, make_user: Any, client: TestClient
) -> None:
    """Another deployment (its own key; same issuer and audience names, as a copy of this
    configuration would have) issues a real token for a user id that exists here: refused."""
    user = make_user("admin")
    other = create_app(settings.model_copy(update={"jwt_secret": _key()}), clock=clock)
    try:
        token, _ = issue_access_token(
            other.state.settings, user_id=user.id, token_version=1, now=clock.now()
        )
    finally:
        other.state.engine.dispose()
    response = client.get(ME, headers={"Authorization": f"Bearer {token}"})
    assert_problem(response, 401, "TOKEN_INVALID")


def test_the_services_own_signing_key_does_not_make_access_tokens(
    settings: Settings, make_user: Any, client: TestClient
) -> None:
    """Key confusion: statements the service signs with its Ed25519 key (attestations, audit
    checkpoints) carry claims too, but are never accepted as bearer tokens."""
    user = make_user("admin")
    statement = sign_statement(settings, _claims(user.id, settings), typ="JWT")
    assert_problem(client.get(ME, headers={"Authorization": f"Bearer {statement}"}), 401)


@pytest.mark.parametrize("alg", ["RS256", "ES256", "PS256"])
def test_asymmetric_algorithms_are_refused(
    settings: Settings, make_user: Any, client: TestClient, alg: str
) -> None:
    user = make_user("admin")
    key: Any = (
        ec.generate_private_key(ec.SECP256R1())
        if alg == "ES256"
        else rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    token = jwt.encode(_claims(user.id, settings), key, algorithm=alg)
    assert_problem(client.get(ME, headers={"Authorization": f"Bearer {token}"}), 401)


@pytest.mark.parametrize(
    "changes",
    [{"aud": "another-api"}, {"aud": ["another-api"]}, {"iss": "another-registry"}],
    ids=["audience", "audience-list", "issuer"],
)
def test_tokens_for_another_audience_or_issuer_are_refused(
    settings: Settings, make_user: Any, client: TestClient, changes: dict[str, Any]
) -> None:
    user = make_user("admin")
    token = jwt.encode(_claims(user.id, settings, **changes), settings.jwt_key, "HS256")
    assert_problem(client.get(ME, headers={"Authorization": f"Bearer {token}"}), 401)


# --- Logs: no secrets, no raw identifiers -------------------------------------------------------


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """The service's JSON logging (app.logging.configure) at DEBUG, SQL and its parameters
    included, captured in memory; the previous logging set-up is restored afterwards."""
    root = logging.getLogger()
    watched = [logging.getLogger(n) for n in ("uvicorn.access", "sqlalchemy.engine")]
    saved = (root.handlers[:], root.level, [(w.handlers[:], w.propagate, w.level) for w in watched])
    buffer = io.StringIO()
    try:
        app_logging.configure("DEBUG", json_logs=True)
        handler = root.handlers[0]
        assert isinstance(handler, logging.StreamHandler)
        handler.setStream(buffer)
        logging.getLogger("sqlalchemy.engine").setLevel(logging.DEBUG)
        yield buffer
    finally:
        root.handlers[:], root.level = saved[0], saved[1]
        for logger, (handlers, propagate, level) in zip(watched, saved[2], strict=True):
            logger.handlers[:], logger.propagate = handlers, propagate
            logger.setLevel(level)
        structlog.reset_defaults()


def test_no_secret_or_raw_identifier_reaches_the_logs(
    app: Any,
    make_user: Any,
    factory: sessionmaker[Session],
    json_logs: io.StringIO,
) -> None:
    """A realistic flow on a real server, logged as in production (JSON, here at DEBUG with
    SQL, whose parameters the engine hides): an admin creates a clerk with a password; the
    clerk logs in (and once fails), makes an API key, registers an official with a CURP,
    screens the CURP, and makes a mistake with another CURP. Neither passwords, the token,
    the API key nor either CURP appears in the logs or in the audit log."""
    agency = make_agency(factory, country="MX")
    admin = make_user("admin", "MX")
    password, wrong = "Cl3rk-Passw0rd-Secreto", "Wr0ng-Passw0rd-Guess"
    official = official_body(agency, given="MARIA GUADALUPE", first="TORRES", second="ZAVALA")
    curp = official["identifiers"][0]["value"]
    screened = official_body(agency, given="PEDRO", first="RAMIREZ", second="SOTO")
    other_curp = screened["identifiers"][0]["value"]

    with serve(app) as base, httpx.Client(base_url=base, timeout=30) as http:
        clerk = user_body(
            password=password, roles=["personnel_officer"], agency_id=str(agency), country="MX"
        )
        assert http.post(USERS, json=clerk, headers=admin.headers).status_code == 201
        form = {"username": clerk["username"]}
        assert http.post(TOKEN, data={**form, "password": wrong}).status_code == 401
        login = http.post(TOKEN, data={**form, "password": password})
        assert login.status_code == 200, login.text
        token = login.json()["access_token"]
        bearer = {"Authorization": f"Bearer {token}"}
        made = http.post("/api/v1/api-keys", json={"name": "hr"}, headers=bearer)
        assert made.status_code == 201, made.text
        api_key = made.json()["key"]
        keyed = {"X-API-Key": api_key}
        registered = http.post("/api/v1/officials", json=official, headers=keyed)
        assert registered.status_code == 201, registered.text
        query = {k: official[k] for k in ("given_names", "first_surname", "date_of_birth")}
        screening = http.post(
            "/api/v1/screenings",
            json={**query, "identifiers": official["identifiers"]},
            headers=keyed,
        )
        assert screening.status_code == 201, screening.text
        wrong_dob = {**screened, "date_of_birth": "1999-01-01"}
        bad = http.post("/api/v1/officials", json=wrong_dob, headers=keyed)
        assert bad.status_code == 422, bad.text
        duplicate = http.post("/api/v1/officials", json=official, headers=keyed)
        assert duplicate.status_code == 409, duplicate.text

    text = json_logs.getvalue()
    assert "INSERT INTO officials" in text or "INSERT INTO official" in text, "SQL not logged?"
    assert '"logger": "uvicorn.access"' in text, "access log not captured?"
    # The engine hides bound parameters (hide_parameters=True): SQL is logged, its values not,
    # so even a name (not a secret, but personal data) never reaches the logs through SQL.
    assert "parameters hidden" in text, "SQL parameters not hidden?"
    assert "TORRES" not in text
    with factory() as session:
        audit = "\n".join(
            repr(vars(e)) for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))
        )
    secrets = {
        "password": password,
        "wrong password": wrong,
        "token": token,
        "token signature": token.rsplit(".", 1)[1],
        "api key": api_key,
        "api key secret": api_key.split("_", 2)[2],
        "curp": curp,
        "other curp": other_curp,
    }
    for name, secret in secrets.items():
        for where, haystack in (("logs", text), ("audit log", audit)):
            assert secret not in haystack, f"{name} found in the {where}"
            assert secret.lower() not in haystack.lower(), f"{name} found in the {where}"
    assert dt.date.fromisoformat(official["date_of_birth"])  # the flow used real data


# --- NUL characters (422 naming the field) ------------------------------------------------------


def _fields(response: httpx.Response) -> list[str]:
    body = assert_problem(response, 422, "VALIDATION_ERROR")
    assert all(e["type"] == "string_nul" for e in body["errors"]), body
    return [e["field"] for e in body["errors"]]


def test_nul_characters_are_refused_naming_the_field(
    client: TestClient, make_user: Any, factory: sessionmaker[Session]
) -> None:
    """PostgreSQL cannot store U+0000 and SQLite would keep it: wherever a request carries one
    (a JSON string or key at any depth, a batch item, a query parameter, a form field), the
    answer is a 422 problem naming each field, nothing is written and no quota is used."""
    agency = make_agency(factory, country="MX")
    hr = make_user("personnel_officer", "MX", agency_id=agency)
    admin = make_user("admin", "MX")

    body = official_body(agency)
    body["given_names"] = "JUAN\x00CARLOS"
    body["identifiers"] = [{"scheme": "CURP", "value": "HEGJ850314HDFRRN0\x001"}]
    body["appointment"]["position"] = "Agente\x00"
    response = client.post("/api/v1/officials", json=body, headers=hr.headers)
    assert _fields(response) == [
        "body.given_names",
        "body.identifiers.0.value",
        "body.appointment.position",
    ]

    item = {"given_names": "ANA", "first_surname": "LOPEZ", "date_of_birth": "1980-01-01"}
    batch = {"items": [item, {**item, "first_surname": "LO\x00PEZ"}]}
    response = client.post("/api/v1/screenings/batch", json=batch, headers=hr.headers)
    assert _fields(response) == ["body.items.1.first_surname"]

    response = client.post("/api/v1/screenings", json={**item, "gi\x00ven": 1}, headers=hr.headers)
    assert _fields(response) == ["body.gi\\u0000ven"]

    response = client.get("/api/v1/officials", params={"name": "AN\x00A"}, headers=hr.headers)
    assert _fields(response) == ["query.name"]

    response = client.post(USERS, json=user_body(username="nul\x00user"), headers=admin.headers)
    assert _fields(response) == ["body.username"]

    response = client.post(TOKEN, data={"username": "a\x00b", "password": "x" * 12})
    assert _fields(response) == ["body.username"]

    response = client.post(
        "/api/v1/officials", json=body, headers={**hr.headers, "Accept-Language": "es"}
    )
    assert response.json()["title"] == "La validación falló"

    from app.models import Official, RateCounter

    with factory() as session:
        assert session.scalars(select(Official.id)).all() == []
        assert session.scalars(select(RateCounter.key)).all() == []  # no quota consumed
    assert _user_count(factory) == 2


# --- The request id on every answer -------------------------------------------------------------


def test_a_500_carries_the_request_id_and_the_security_headers(
    settings: Settings, clock: FixedClock
) -> None:
    """Starlette's outermost error middleware would answer an unexpected error past every other
    middleware: no ``X-Request-ID`` header (the id to quote), no security headers. The 500
    problem is made inside them instead."""
    app = create_app(settings, clock=clock)

    @app.get("/api/v1/test-crash")
    def crash() -> None:
        raise RuntimeError("internal state that must not leak")

    request_id = uuid.uuid4().hex
    try:
        with TestClient(app, raise_server_exceptions=False) as c:
            response = c.get("/api/v1/test-crash", headers={"X-Request-ID": request_id})
    finally:
        app.state.engine.dispose()
    body = assert_problem(response, 500, "INTERNAL_ERROR")
    assert body["request_id"] == request_id
    assert response.headers["x-request-id"] == request_id
    _assert_security_headers(response)
    assert "internal state" not in response.text


def test_readyz_failure_is_a_problem_with_the_request_id(
    settings: Settings, clock: FixedClock, tmp_path: Any
) -> None:
    """``/readyz`` on a database it cannot reach: 503 problem document with ``request_id``,
    ``instance`` and ``Retry-After``, in Spanish on request, like every other problem."""
    gone = f"sqlite:///{tmp_path / 'no-such-directory' / 'registry.db'}"
    app = create_app(settings.model_copy(update={"database_url": gone}), clock=clock)
    request_id = uuid.uuid4().hex
    try:
        client = TestClient(app, raise_server_exceptions=False)  # no lifespan: it would refuse
        response = client.get(
            "/readyz", headers={"X-Request-ID": request_id, "Accept-Language": "es"}
        )
    finally:
        app.state.engine.dispose()
    body = assert_problem(response, 503, "DATABASE_UNAVAILABLE")
    assert body["request_id"] == request_id
    assert body["instance"] == "/readyz"
    assert body["title"] == "Servicio no disponible"
    assert response.headers["x-request-id"] == request_id
    assert response.headers["retry-after"] == "5"
