"""#18 F5 (R24, R26): usernames are unique per country, and login never tells an unauthenticated
caller whether a username exists in the other country.

A login names its country (``country``, optional): with it, the user is looked up in that
country only; without it, the username's user in either country whose password matches logs
in, provided exactly one does. No such user, a wrong password, an inactive user and two
matching users answer the same 401 (docs/security.md 3.1)."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import AuditEvent
from tests.api.test_conventions import ME, TOKEN, USERS
from tests.conftest import PASSWORD

OTHER_PASSWORD = "another-long-enough-password"


def _login(
    client: TestClient, username: str, password: str = PASSWORD, country: str | None = None
) -> httpx.Response:
    data = {"username": username, "password": password}
    if country is not None:
        data["country"] = country
    return client.post(TOKEN, data=data)


def _me(client: TestClient, response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    me = client.get(ME, headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200, me.text
    out: dict[str, Any] = me.json()
    return out


def _refusal(response: httpx.Response) -> tuple[int, dict[str, Any], str | None]:
    """What a client observes of a refused login, minus the per-request id."""
    body = {k: v for k, v in response.json().items() if k != "request_id"}
    return response.status_code, body, response.headers.get("www-authenticate")


def test_the_same_username_may_exist_in_each_country(client, make_user):
    """F5: a U.S. admin creates a user whose name a Mexican user has, as for a fresh name; a
    name taken in its own country is still refused."""
    make_user("personnel_officer", "MX", username="ana.ruiz")
    us_admin = make_user("admin", "US")
    body = {"password": PASSWORD, "roles": ["auditor"], "country": "US"}
    created = client.post(USERS, json={**body, "username": "ana.ruiz"}, headers=us_admin.headers)
    assert created.status_code == 201, created.text
    assert created.json()["country"] == "US"
    again = client.post(USERS, json={**body, "username": "ana.ruiz"}, headers=us_admin.headers)
    assert again.status_code == 409
    assert again.json()["code"] == "USERNAME_TAKEN"


def test_login_without_a_country_finds_the_only_user_of_that_name(client, make_user):
    mexican = make_user("personnel_officer", "MX", username="solo.mx")
    me = _me(client, _login(client, "solo.mx"))
    assert (me["id"], me["country"]) == (str(mexican.id), "MX")


def test_login_with_a_country_looks_only_there(client, make_user):
    """A Mexican username tried as a U.S. login answers as a name nobody has."""
    make_user("personnel_officer", "MX", username="solo.mx")
    me = _me(client, _login(client, "solo.mx", country="MX"))
    assert me["country"] == "MX"
    across = _login(client, "solo.mx", country="US")
    nobody = _login(client, "nobody.anywhere", country="US")
    assert across.status_code == 401
    assert _refusal(across) == _refusal(nobody)


def test_a_name_of_both_countries_logs_in_the_user_whose_password_matches(client, make_user):
    mexican = make_user("personnel_officer", "MX", username="twin")
    american = make_user("personnel_officer", "US", username="twin", password=OTHER_PASSWORD)
    assert _me(client, _login(client, "twin"))["id"] == str(mexican.id)
    assert _me(client, _login(client, "twin", OTHER_PASSWORD))["id"] == str(american.id)
    assert _me(client, _login(client, "twin", OTHER_PASSWORD, country="US"))["id"] == str(
        american.id
    )
    # The Mexican password is wrong for the U.S. user.
    assert _login(client, "twin", PASSWORD, country="US").status_code == 401


def test_two_matching_users_answer_as_a_wrong_password_does(client, make_user):
    """Two users of one name and one password: without a country nobody logs in, and the
    answer is the generic 401; naming the country logs in that one."""
    mexican = make_user("personnel_officer", "MX", username="same.pw")
    american = make_user("personnel_officer", "US", username="same.pw")
    make_user("personnel_officer", "MX", username="single")
    ambiguous = _login(client, "same.pw")
    wrong = _login(client, "single", "not-the-password-at-all")
    unknown = _login(client, "nobody.anywhere")
    assert ambiguous.status_code == 401
    assert _refusal(ambiguous) == _refusal(wrong) == _refusal(unknown)
    assert _me(client, _login(client, "same.pw", country="MX"))["id"] == str(mexican.id)
    assert _me(client, _login(client, "same.pw", country="US"))["id"] == str(american.id)


def test_every_refusal_is_the_same_401_with_or_without_a_country(client, make_user):
    """No oracle (R24): unknown, wrong password, a name of the other country only, a name of
    both countries — one status, one body."""
    make_user("personnel_officer", "MX", username="mx.only")
    make_user("personnel_officer", "MX", username="both")
    make_user("personnel_officer", "US", username="both", password=OTHER_PASSWORD)
    answers = [
        _login(client, "nobody.anywhere"),
        _login(client, "nobody.anywhere", country="MX"),
        _login(client, "mx.only", "wrong-password-here"),
        _login(client, "mx.only", country="US"),
        _login(client, "both", "wrong-password-here"),
        _login(client, "both", OTHER_PASSWORD, country="MX"),
    ]
    first = _refusal(answers[0])
    assert first[0] == 401
    assert first[1]["code"] == "INVALID_CREDENTIALS"
    for answer in answers[1:]:
        assert _refusal(answer) == first


def test_an_unknown_country_is_a_422_naming_the_field(client, make_user):
    make_user("personnel_officer", "MX", username="solo.mx")
    r = _login(client, "solo.mx", country="XX")
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == ["body.country"]


def test_login_events_stay_in_the_named_users_country(client, make_user, factory):
    """#18 F6 with F5: a failed login of a name both countries use is recorded for each
    candidate in its own country; an ambiguous one names no user, so no country sees it."""
    make_user("personnel_officer", "MX", username="dual")
    make_user("personnel_officer", "US", username="dual", password=OTHER_PASSWORD)
    make_user("personnel_officer", "MX", username="same")
    make_user("personnel_officer", "US", username="same")
    assert _login(client, "dual", "wrong-password-here").status_code == 401
    assert _login(client, "same").status_code == 401
    with factory() as session:
        dual = _events(session, "dual")
        same = _events(session, "same")
    assert sorted((e.actor_country, e.outcome) for e in dual) == [
        ("MX", "failure"),
        ("US", "failure"),
    ]
    assert [(e.actor_country, e.actor_id, e.outcome, e.details) for e in same] == [
        (None, None, "failure", {"reason": "ambiguous"})
    ]


def _events(session: Session, username: str) -> list[AuditEvent]:
    return list(
        session.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "auth.login", AuditEvent.actor_username == username
            )
        )
    )


def test_api_keys_and_tokens_name_the_user_by_id(client, make_user):
    """Keys and tokens identify their user by id, not by name: two users of one name act each
    as itself."""
    mexican = make_user("personnel_officer", "MX", username="keyed")
    american = make_user("personnel_officer", "US", username="keyed")
    for user in (mexican, american):
        created = client.post("/api/v1/api-keys", json={"name": "hr-system"}, headers=user.headers)
        assert created.status_code == 201, created.text
        me = client.get(ME, headers={"X-API-Key": created.json()["key"]})
        assert me.status_code == 200, me.text
        assert (me.json()["id"], me.json()["country"]) == (str(user.id), user.country)
        me = client.get(ME, headers=user.headers)
        assert (me.json()["id"], me.json()["country"]) == (str(user.id), user.country)
