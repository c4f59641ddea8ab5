"""API conventions (DESIGN §5): RFC 9457 problem documents for every error status, in English
and Spanish; request ids; Idempotency-Key on creating POSTs.

``assert_problem`` and ``user_body`` are shared with the other API test modules.
"""

from __future__ import annotations

import ast
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from babel.messages.pofile import read_po
from fastapi.testclient import TestClient

from app.api.middleware import TOO_LARGE_DETAIL, TOO_LARGE_TITLE
from app.api.problems import HTTP_TITLES
from app.clock import FixedClock
from app.config import Settings
from app.i18n import LOCALE_DIR
from app.main import create_app

USERS = "/api/v1/users"
ME = "/api/v1/auth/me"
TOKEN = "/api/v1/auth/token"
PROBLEM_FIELDS = ("type", "title", "status", "detail", "code")
APP_DIR = Path(__file__).resolve().parents[2] / "app"


def assert_problem(
    response: httpx.Response, status: int, code: str | None = None
) -> dict[str, Any]:
    """The response is an RFC 9457 problem document with our fields, and leaks nothing."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    for field in PROBLEM_FIELDS:
        assert body.get(field), f"problem without {field}: {body}"
    assert body["status"] == status
    assert body["type"].startswith("https://")
    assert body["request_id"]
    assert "Traceback" not in response.text
    if code is not None:
        assert body["code"] == code, body
    return body


def user_body(**overrides: Any) -> dict[str, Any]:
    """A valid ``POST /users`` body (DESIGN §5 user create)."""
    body: dict[str, Any] = {
        "username": f"user_{uuid.uuid4().hex[:10]}",
        "password": "a long enough password",
        "roles": ["auditor"],
        "country": "MX",
    }
    body.update(overrides)
    return body


# --- Problem documents for every status -------------------------------------------------------


@dataclass
class Ctx:
    """What a scenario needs to provoke its error, in the language under test."""

    client: TestClient
    make_user: Any
    settings: Settings
    clock: FixedClock
    lang: dict[str, str]
    stack: ExitStack

    def other_client(self, **overrides: Any) -> tuple[TestClient, Any]:
        """A second app on the same database, with changed settings."""
        app = create_app(self.settings.model_copy(update=overrides), clock=self.clock)
        self.stack.callback(app.state.engine.dispose)
        client = self.stack.enter_context(TestClient(app, raise_server_exceptions=False))
        return client, app

    def admin(self) -> dict[str, str]:
        return {**self.make_user("admin", "MX").headers, **self.lang}


def _unauthenticated(ctx: Ctx) -> httpx.Response:
    return ctx.client.get(ME, headers=ctx.lang)


def _role_not_admitted(ctx: Ctx) -> httpx.Response:
    auditor = ctx.make_user("auditor", "MX")
    return ctx.client.post(USERS, json=user_body(), headers={**auditor.headers, **ctx.lang})


def _unknown_route(ctx: Ctx) -> httpx.Response:
    return ctx.client.get("/api/v1/no-such-resource", headers=ctx.lang)


def _unknown_user(ctx: Ctx) -> httpx.Response:
    return ctx.client.get(f"{USERS}/{uuid.uuid4()}", headers=ctx.admin())


def _wrong_method(ctx: Ctx) -> httpx.Response:
    return ctx.client.put(USERS, json=user_body(), headers=ctx.admin())


def _duplicate_username(ctx: Ctx) -> httpx.Response:
    headers, body = ctx.admin(), user_body()
    assert ctx.client.post(USERS, json=body, headers=headers).status_code == 201
    return ctx.client.post(USERS, json=body, headers=headers)


def _created_user(ctx: Ctx, headers: dict[str, str]) -> str:
    response = ctx.client.post(USERS, json=user_body(), headers=headers)
    assert response.status_code == 201, response.text
    user_id: str = response.json()["id"]
    return user_id


def _stale_if_match(ctx: Ctx) -> httpx.Response:
    headers = ctx.admin()
    user_id = _created_user(ctx, headers)
    return ctx.client.patch(
        f"{USERS}/{user_id}", json={"roles": ["admin"]}, headers={**headers, "If-Match": '"99"'}
    )


def _missing_if_match(ctx: Ctx) -> httpx.Response:
    headers = ctx.admin()
    user_id = _created_user(ctx, headers)
    return ctx.client.patch(f"{USERS}/{user_id}", json={"roles": ["admin"]}, headers=headers)


def _body_too_large(ctx: Ctx) -> httpx.Response:
    headers = ctx.admin()
    small, _ = ctx.other_client(max_body_bytes=256)
    return small.post(USERS, json=user_body(password="p" * 300), headers=headers)


def _invalid_body(ctx: Ctx) -> httpx.Response:
    return ctx.client.post(USERS, json={"username": "x"}, headers=ctx.admin())


def _throttled(ctx: Ctx) -> httpx.Response:
    form = {"username": "nobody", "password": "wrong password"}
    for _ in range(ctx.settings.login_max_failures_per_user):
        assert ctx.client.post(TOKEN, data=form).status_code == 401
    return ctx.client.post(TOKEN, data=form, headers=ctx.lang)


def _crash(ctx: Ctx) -> httpx.Response:
    crashing, app = ctx.other_client()

    @app.get("/api/v1/test-crash")
    def crash() -> None:
        raise RuntimeError("internal state that must not leak")

    return crashing.get("/api/v1/test-crash", headers=ctx.lang)


SCENARIOS: list[tuple[str, int, str, Callable[[Ctx], httpx.Response]]] = [
    ("unauthenticated", 401, "NOT_AUTHENTICATED", _unauthenticated),
    ("role-not-admitted", 403, "ROLE_NOT_ADMITTED", _role_not_admitted),
    ("unknown-route", 404, "NOT_FOUND", _unknown_route),
    ("unknown-user", 404, "USER_NOT_FOUND", _unknown_user),
    ("wrong-method", 405, "METHOD_NOT_ALLOWED", _wrong_method),
    ("duplicate-username", 409, "USERNAME_TAKEN", _duplicate_username),
    ("stale-if-match", 412, "STALE_ETAG", _stale_if_match),
    ("body-too-large", 413, "PAYLOAD_TOO_LARGE", _body_too_large),
    ("invalid-body", 422, "VALIDATION_ERROR", _invalid_body),
    ("missing-if-match", 428, "IF_MATCH_REQUIRED", _missing_if_match),
    ("throttled", 429, "LOGIN_THROTTLED", _throttled),
    ("unexpected-error", 500, "INTERNAL_ERROR", _crash),
]


def _templates(texts: Any) -> list[re.Pattern[str]]:
    """Each message as a pattern in which a ``{placeholder}`` stands for any text."""
    patterns = []
    for text in texts:
        parts = re.split(r"\{[a-z_]+\}", text)
        patterns.append(re.compile(".+".join(re.escape(p) for p in parts), re.DOTALL))
    return patterns


CATALOGUE = LOCALE_DIR / "es" / "LC_MESSAGES" / "messages.po"


def _spanish() -> dict[str, str]:
    """msgid → msgstr of the Spanish catalogue, read independently of app.i18n."""
    with CATALOGUE.open("rb") as fh:
        return {str(m.id): str(m.string) for m in read_po(fh, locale="es") if m.id}


ES = _spanish()
ENGLISH = _templates(ES.keys())
SPANISH = _templates(ES.values())


def _one_of(text: str, patterns: list[re.Pattern[str]]) -> bool:
    return any(p.fullmatch(text) for p in patterns)


@pytest.fixture
def ctx_for(
    client: TestClient, make_user: Any, settings: Settings, clock: FixedClock
) -> Iterator[Callable[[str], Ctx]]:
    with ExitStack() as stack:
        yield lambda lang: Ctx(client, make_user, settings, clock, {"Accept-Language": lang}, stack)


@pytest.mark.parametrize("lang", ["en", "es"])
@pytest.mark.parametrize(
    ("status", "code", "scenario"),
    [pytest.param(s, c, f, id=name) for name, s, c, f in SCENARIOS],
)
def test_every_error_status_is_a_problem_document(
    ctx_for: Callable[[str], Ctx],
    lang: str,
    status: int,
    code: str,
    scenario: Callable[[Ctx], httpx.Response],
) -> None:
    """DESIGN §5: each error is application/problem+json with type, title, status, detail and
    a machine code; with ``Accept-Language: es`` title and detail come from the Spanish
    catalogue, and every English title and detail is a msgid the catalogue translates."""
    response = scenario(ctx_for(lang))
    body = assert_problem(response, status, code)
    assert response.headers["content-language"] == lang
    catalogue = SPANISH if lang == "es" else ENGLISH
    assert _one_of(body["title"], catalogue), body["title"]
    assert _one_of(body["detail"], catalogue), body["detail"]


def test_unauthenticated_problem_asks_for_a_bearer_token(client: TestClient) -> None:
    response = client.get(ME)
    assert_problem(response, 401, "NOT_AUTHENTICATED")
    assert response.headers["www-authenticate"] == "Bearer"


def test_wrong_method_names_the_allowed_ones(client: TestClient, make_user: Any) -> None:
    response = client.put(USERS, headers=make_user("admin").headers)
    assert_problem(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["allow"] == "POST"


def test_validation_problem_lists_each_field(client: TestClient, make_user: Any) -> None:
    """DESIGN §5: validation errors list each field, where it was sent, and never echo the
    submitted values (a password may be among them)."""
    response = client.post(
        USERS,
        json={"username": "x", "password": "pw-tiny", "roles": ["sheriff"], "extra": 1},
        headers=make_user("admin").headers,
    )
    body = assert_problem(response, 422, "VALIDATION_ERROR")
    fields = {e["field"] for e in body["errors"]}
    assert fields == {
        "body.username",
        "body.password",
        "body.roles.0",
        "body.country",
        "body.extra",
    }
    assert all(e["message"] and e["type"] for e in body["errors"])
    assert "body.username" in body["detail"]
    assert "pw-tiny" not in response.text


def test_malformed_json_is_422_not_500(client: TestClient, make_user: Any) -> None:
    response = client.post(
        USERS,
        content=b'{"username": ',
        headers={**make_user("admin").headers, "Content-Type": "application/json"},
    )
    body = assert_problem(response, 422, "VALIDATION_ERROR")
    assert body["errors"][0]["type"] == "json_invalid"


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_body_over_the_limit_is_413_with_or_without_content_length(
    make_user: Any, settings: Settings, clock: FixedClock, chunked: bool
) -> None:
    """A body without Content-Length is cut off at the limit too, and still answers 413 (it
    was a 400 "error parsing the body" before), in the caller's language."""
    headers = {
        **make_user("admin").headers,
        "Content-Type": "application/json",
        "Accept-Language": "es",
        "X-Request-ID": uuid.uuid4().hex,
    }
    payload = b'{"username": "' + b"u" * 1000 + b'"}'
    content: Any = iter([payload[:10], payload[10:]]) if chunked else payload
    app = create_app(settings.model_copy(update={"max_body_bytes": 256}), clock=clock)
    try:
        with TestClient(app, raise_server_exceptions=False) as small:
            response = small.post(USERS, content=content, headers=headers)
            assert small.post(USERS, json=user_body(), headers=headers).status_code == 201
    finally:
        app.state.engine.dispose()
    body = assert_problem(response, 413, "PAYLOAD_TOO_LARGE")
    assert body["title"] == ES[TOO_LARGE_TITLE]
    assert body["detail"] == ES[TOO_LARGE_DETAIL]
    assert body["request_id"] == headers["X-Request-ID"]


def test_unexpected_error_is_500_without_internals(
    settings: Settings, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    """DESIGN §5: never a stack trace. The body names the request id to quote, and the log
    (not the client) gets the traceback."""
    app = create_app(settings, clock=clock)

    @app.post("/api/v1/test-crash")
    def crash() -> None:
        raise RuntimeError("internal state that must not leak")

    request_id = uuid.uuid4().hex
    try:
        with TestClient(app, raise_server_exceptions=False) as c:
            response = c.post("/api/v1/test-crash", headers={"X-Request-ID": request_id})
    finally:
        app.state.engine.dispose()
    body = assert_problem(response, 500, "INTERNAL_ERROR")
    assert body["request_id"] == request_id
    assert "internal state" not in response.text
    assert "RuntimeError" not in response.text
    assert any(r.exc_info and "internal state" in str(r.exc_info[1]) for r in caplog.records)


# --- Spanish catalogue ------------------------------------------------------------------------


def _msgids_in_code() -> set[str]:
    """English texts the code hands to the problem renderer, found by reading the source:
    ``title`` of every AppError subclass, details passed to them (also through
    ``super().__init__``), ``title=``/``detail=`` of ``problem(...)`` calls, the title and
    detail keys of hand-built problem dicts, and constants named ``*TITLE`` or ``*DETAIL``."""
    trees = [ast.parse(p.read_text(), str(p)) for p in sorted(APP_DIR.rglob("*.py"))]
    classes = [n for t in trees for n in ast.walk(t) if isinstance(n, ast.ClassDef)]

    def name_of(node: ast.expr) -> str | None:
        if isinstance(node, ast.Name):
            return node.id
        return node.attr if isinstance(node, ast.Attribute) else None

    def family(root: str) -> set[str]:
        names = {root}
        grown = True
        while grown:
            before = len(names)
            names |= {c.name for c in classes if {name_of(b) for b in c.bases} & names}
            grown = len(names) > before
        return names

    errors = family("AppError")
    # A FieldError's first argument is the field it names; its text is ``detail=`` (#16).
    field_errors = family("FieldError")

    def text(node: ast.expr | None) -> str | None:
        ok = isinstance(node, ast.Constant) and isinstance(node.value, str)
        return node.value if ok else None  # type: ignore[union-attr]

    found: set[str | None] = {TOO_LARGE_TITLE, TOO_LARGE_DETAIL}
    constant = re.compile(r"(^|_)(TITLE|DETAIL)$")
    found |= {title for _code, title in HTTP_TITLES.values()}
    for cls in (c for c in classes if c.name in errors):
        for stmt in cls.body:
            if isinstance(stmt, ast.Assign) and any(name_of(t) == "title" for t in stmt.targets):
                found.add(text(stmt.value))
        for node in ast.walk(cls):
            if isinstance(node, ast.Call) and name_of(node.func) == "__init__" and node.args:
                found.add(text(node.args[0]))
    for node in (n for t in trees for n in ast.walk(t)):
        if isinstance(node, ast.Call) and name_of(node.func) in errors | {"problem"}:
            if node.args and name_of(node.func) not in field_errors | {"problem"}:
                found.add(text(node.args[0]))
            found |= {text(k.value) for k in node.keywords if k.arg in ("title", "detail")}
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and constant.search(t.id) for t in node.targets
        ):
            found.add(text(node.value))
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if key is not None and text(key) in ("title", "detail"):
                    found.add(text(value))
    return {t for t in found if t}


def test_spanish_catalogue_translates_every_message_in_the_code() -> None:
    """DESIGN §5: ``Accept-Language: es`` gives Spanish titles and details, so every English
    msgid the code can render must be in app/locale/es/LC_MESSAGES/messages.po, with the same
    ``{placeholders}``."""
    msgids = _msgids_in_code()
    assert len(msgids) > 30, "the source scan found too little; is it still looking?"
    missing = sorted(m for m in msgids if m not in ES)
    assert not missing, f"add to messages.po: {missing}"
    for msgid, msgstr in ES.items():
        assert msgstr != msgid, f"untranslated: {msgid}"
        assert re.findall(r"\{\w+\}", msgstr) == re.findall(r"\{\w+\}", msgid), msgid


@pytest.mark.parametrize(
    ("accept_language", "expected"),
    [
        ("es", "es"),
        ("es-MX,es;q=0.9", "es"),
        ("fr-FR, es;q=0.5", "es"),
        ("en-US,en;q=0.9,es;q=0.8", "en"),
        ("es;q=0.2, en;q=0.7", "en"),
        ("fr", "en"),
        ("", "en"),
    ],
)
def test_problem_language_follows_accept_language(
    client: TestClient, accept_language: str, expected: str
) -> None:
    response = client.get(ME, headers={"Accept-Language": accept_language})
    body = assert_problem(response, 401)
    assert response.headers["content-language"] == expected
    titles = {"en": "Authentication required", "es": "Se requiere autenticación"}
    assert body["title"] == titles[expected]


# --- Request ids --------------------------------------------------------------------------------


def test_request_id_is_echoed(client: TestClient) -> None:
    request_id = uuid.uuid4().hex
    response = client.get(ME, headers={"X-Request-ID": request_id})
    assert response.headers["x-request-id"] == request_id
    assert response.json()["request_id"] == request_id


@pytest.mark.parametrize("sent", [None, "not-a-uuid; drop table users"], ids=["absent", "bogus"])
def test_request_id_is_generated_when_absent_or_unusable(
    client: TestClient, sent: str | None
) -> None:
    """A missing id is generated; one that is not a UUID is replaced (it ends up in logs)."""
    headers = {"X-Request-ID": sent} if sent else {}
    response = client.get("/healthz", headers=headers)
    generated = response.headers["x-request-id"]
    assert generated != sent
    assert uuid.UUID(generated)
    other = client.get("/healthz", headers=headers).headers["x-request-id"]
    assert other != generated


# --- Idempotency-Key ------------------------------------------------------------------------


def _users_named(client: TestClient, headers: dict[str, str], username: str) -> list[Any]:
    items = client.get(USERS, params={"limit": 200}, headers=headers).json()["items"]
    return [u for u in items if u["username"] == username]


def test_idempotent_retry_returns_the_first_response(client: TestClient, make_user: Any) -> None:
    """DESIGN §5: a retry with the same Idempotency-Key returns the first response and creates
    nothing more."""
    admin = make_user("admin")
    headers = {**admin.headers, "Idempotency-Key": uuid.uuid4().hex}
    body = user_body()
    first = client.post(USERS, json=body, headers=headers)
    again = client.post(USERS, json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert len(_users_named(client, admin.headers, body["username"])) == 1
    events = client.get(
        "/api/v1/audit",
        params={"action": "user.create", "resource_id": first.json()["id"]},
        headers=admin.headers,
    ).json()["items"]
    assert len(events) == 1


def test_idempotency_key_reused_with_another_body_is_422(
    client: TestClient, make_user: Any
) -> None:
    admin = make_user("admin")
    headers = {**admin.headers, "Idempotency-Key": "create-clerk-1"}
    assert client.post(USERS, json=user_body(), headers=headers).status_code == 201
    other = user_body()
    response = client.post(USERS, json=other, headers=headers)
    assert_problem(response, 422, "IDEMPOTENCY_KEY_REUSED")
    assert _users_named(client, admin.headers, other["username"]) == []


def test_idempotency_keys_belong_to_their_caller(client: TestClient, make_user: Any) -> None:
    """Another admin's identical key is its own: it creates, it does not replay."""
    key = {"Idempotency-Key": "same-key"}
    first = client.post(USERS, json=user_body(), headers={**make_user("admin").headers, **key})
    second = client.post(USERS, json=user_body(), headers={**make_user("admin").headers, **key})
    assert first.status_code == second.status_code == 201
    assert "idempotent-replayed" not in second.headers
    assert first.json()["id"] != second.json()["id"]


def test_failed_request_leaves_its_idempotency_key_unused(
    client: TestClient, make_user: Any
) -> None:
    """The record is written in the creating transaction: a refused request can be corrected
    and retried under the same key."""
    headers = {**make_user("admin").headers, "Idempotency-Key": "retry-me"}
    refused = client.post(USERS, json=user_body(agency_id=str(uuid.uuid4())), headers=headers)
    assert_problem(refused, 422)
    assert client.post(USERS, json=user_body(), headers=headers).status_code == 201


def test_idempotency_key_longer_than_200_is_422(client: TestClient, make_user: Any) -> None:
    headers = {**make_user("admin").headers, "Idempotency-Key": "k" * 201}
    body = assert_problem(client.post(USERS, json=user_body(), headers=headers), 422)
    assert body["errors"][0]["field"] == "header.Idempotency-Key"
