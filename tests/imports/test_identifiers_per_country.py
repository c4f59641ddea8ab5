"""#18 F4 (R2, R24): an identifier is unique within its country only, so registering (by the API
or by an import) a passport, employee number or national id that an *unlisted* official of
the other country holds answers as if nobody held it — no existence oracle across the border.
A *listed* holder is still refused by the R3 gate (``OFFICIAL_LISTED``; R9 shows listings to
both countries), and a screening by identifier still finds the listed holders of both
countries (R11)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.imports.conftest import Importer, World
from tests.imports.support import OFFICIAL_HEADER, official, to_csv
from tests.registry.builders import evaluate, official_body, register, with_result

PASSPORT = "G12345678"


def _body(agency: Any, given: str, first: str, *, passport: str = PASSPORT, **kw: Any) -> Any:
    body = official_body(agency, given=given, first=first, curp=False, **kw)
    body["identifiers"] = [{"scheme": "PASSPORT", "value": passport}]
    return body


def _list(client: Any, world: World, official_id: str) -> None:
    """R7: a failed polygraph at the official's own vetting body lists them."""
    evaluate(
        client,
        world.mx_vetter.headers,
        official_id,
        world.mx_vetter_body,
        components=with_result("polygraph", "fail"),
    )


def test_a_passport_held_across_the_border_answers_as_a_fresh_one(client, world):
    """F4: the U.S. registers a person whose passport an unlisted Mexican official carries
    exactly as one whose passport nobody carries; within the United States the passport is
    then taken (409 naming the U.S. record)."""
    register(client, world.mx_admin.headers, _body(world.mx_police, "ANA", "RUIZ"))
    probe = client.post(
        "/api/v1/officials",
        json=_body(world.us_fbi, "BETO", "SOTO"),
        headers=world.us_admin.headers,
    )
    control = client.post(
        "/api/v1/officials",
        json=_body(world.us_fbi, "CARL", "WEBB", passport="H98765432"),
        headers=world.us_admin.headers,
    )
    assert probe.status_code == control.status_code == 201, (probe.text, control.text)
    again = client.post(
        "/api/v1/officials",
        json=_body(world.us_fbi, "DAN", "HALE", dob=dt.date(1990, 1, 1)),
        headers=world.us_admin.headers,
    )
    assert again.status_code == 409, again.text
    assert again.json()["code"] == "IDENTIFIER_EXISTS"
    assert again.json()["existing_official_id"] == probe.json()["id"]


def test_a_listed_holder_across_the_border_is_still_refused(client, world):
    """F4 with R3: the listed Mexican holder of the passport is refused to the United States
    at verdict level, as before."""
    ana = register(client, world.mx_admin.headers, _body(world.mx_police, "ANA", "RUIZ"))
    _list(client, world, ana["id"])
    r = client.post(
        "/api/v1/officials", json=_body(world.us_fbi, "ANA", "RUIZ"), headers=world.us_admin.headers
    )
    assert r.status_code == 409, r.text
    assert r.json()["code"] == "OFFICIAL_LISTED"
    assert ana["id"] not in r.text


def test_screening_by_passport_finds_the_listed_holder_in_each_country(client, world, make_user):
    """R11: one passport, two records (one per country), both listed: a screening by the
    passport finds both by identifier."""
    mexican = register(client, world.mx_admin.headers, _body(world.mx_police, "ANA", "RUIZ"))
    american = register(client, world.us_admin.headers, _body(world.us_fbi, "ANA", "RUIZ"))
    _list(client, world, mexican["id"])
    evaluate(
        client,
        world.us_vetter.headers,
        american["id"],
        world.us_vetter_body,
        components=with_result("polygraph", "fail"),
    )
    screener = make_user("personnel_officer", "MX", agency_id=world.mx_police)
    r = client.post(
        "/api/v1/screenings",
        json={
            "given_names": "ZOE",
            "first_surname": "NADIE",
            "date_of_birth": "1960-06-06",
            "identifiers": [{"scheme": "PASSPORT", "value": PASSPORT}],
        },
        headers=screener.headers,
    )
    assert r.status_code == 201, r.text
    by_identifier = {
        m["official_id"] for m in r.json()["matches"] if m["matched_by"] == "identifier"
    }
    assert by_identifier == {mexican["id"], american["id"]}


def test_an_import_treats_the_other_countrys_identifiers_as_the_api_does(
    client: Any, importer: Importer, world: World
) -> None:
    """F4 for bulk imports: a U.S. row with the passport of an unlisted Mexican official goes
    in; one with a listed Mexican's passport and name is OFFICIAL_LISTED; one with a passport
    already registered in the United States is IDENTIFIER_EXISTS."""
    register(client, world.mx_admin.headers, _body(world.mx_police, "ANA", "RUIZ"))
    listed = register(
        client,
        world.mx_admin.headers,
        _body(world.mx_police, "CARLA", "MENA", passport="L55555555", dob=dt.date(1980, 5, 5)),
    )
    _list(client, world, listed["id"])
    register(
        client, world.us_admin.headers, _body(world.us_fbi, "DAN", "HALE", passport="U77777777")
    )
    rows = [
        official(1, "FBI", curp="", passport=PASSPORT),
        official(
            2,
            "FBI",
            curp="",
            passport="L55555555",
            given_names="CARLA",
            first_surname="MENA",
            second_surname="GARCIA",
            date_of_birth="1980-05-05",
            sex="F",
        ),
        official(3, "FBI", curp="", passport="U77777777"),
    ]
    run = importer(world.us_admin, "officials", to_csv([*OFFICIAL_HEADER, "passport"], rows))
    assert (run.accepted, run.rejected) == (1, 2), run.errors
    assert [(line, ref, code) for line, ref, code, _reason in run.errors] == [
        (3, "OFF-2", "OFFICIAL_LISTED"),
        (4, "OFF-3", "IDENTIFIER_EXISTS"),
    ]
