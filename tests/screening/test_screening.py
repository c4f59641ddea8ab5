"""Screening before hiring (R11, R12, R12a): verdicts, features, batch, decisions, the
cross-border view and the audit trail."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import event, select

from app.db import unit_of_work
from app.models import AuditEvent, Screening
from app.services.registry.identifiers import make_curp
from tests.registry.builders import official_body, register
from tests.screening.conftest import batch, identity, listed_official, screen

JUAN = identity("JUAN CARLOS", "HERNANDEZ", "GARCIA", "1985-03-14")


def test_verdicts_listed_review_clear_and_identifier(client, world):
    """R11: an identifier match with a listed official is listed whatever the names; a close
    name and exact date is listed; the year alone calls for review; unlisted people and other
    people are clear; every match carries its score, features and the R9 listing facts."""
    listed = listed_official(client, world)
    curp = make_curp("JUAN CARLOS", "HERNANDEZ", "GARCIA", dt.date(1985, 3, 14), "M")
    register(
        client,
        world["mx_hr"].headers,
        official_body(world["mx_police"], given="ROSA", first="LUNA", second="PAZ", sex="F"),
    )
    hr = world["mx_hr"].headers

    exact = screen(client, hr, {**JUAN, "given_names": "Juan Carlos", "first_surname": "Hernández"})
    assert exact["verdict"] == "listed"
    (match,) = exact["matches"]
    assert match["official_id"] == listed["id"]
    assert match["score"] == 100.0
    assert match["band"] == "high"
    assert match["verdict"] == "listed"
    assert match["matched_by"] == "name_and_birth_date"
    assert match["features"]["dob"] == "exact"
    assert match["basis"] == "failed_vetting"
    assert match["listing_status"] == "active"
    assert match["listed_by_acronym"] == "C3JAL"
    assert match["listed_on"] == "2026-11-01"
    assert match["contact"]
    assert match["listing_id"] == listed["listing_id"]
    assert match["candidate"]["date_of_birth"] == "1985-03-14"  # own country: full view
    assert match["view"] == "full"
    assert match["previous_decision"] is None

    by_curp = screen(
        client,
        hr,
        identity(
            "PEDRO", "SOTO", None, "1985-03-14", identifiers=[{"scheme": "CURP", "value": curp}]
        ),
    )
    assert by_curp["verdict"] == "listed"
    (match,) = by_curp["matches"]
    assert match["matched_by"] == "identifier"
    assert match["features"]["identifier_match"] == "CURP"
    assert match["score"] < 70  # the names disagree; the identifier decides (R11)

    review = screen(client, hr, {**JUAN, "date_of_birth": "1985-01-01"})
    assert review["verdict"] == "review"
    assert review["matches"][0]["band"] == "review"
    assert review["matches"][0]["features"]["dob"] == "year_only"

    # Unlisted people are never candidates; different people are clear.
    assert screen(client, hr, identity("ROSA", "LUNA", "PAZ", "1985-03-14"))["matches"] == []
    other = screen(client, hr, identity("PEDRO", "HERNANDEZ", "GARCIA", "1985-03-14"))
    assert other["verdict"] == "clear"
    assert other["matches"] == []

    # A watch is left when asked (R12b; app.services.screening.watches follows the person).
    watched = screen(client, hr, {**JUAN, "watch": True})
    assert watched["watch_id"]
    assert (
        client.get(f"/api/v1/screenings/{watched['id']}", headers=hr).json()["watch_id"]
        == (watched["watch_id"])
    )

    # Kept, and readable by its agency.
    again = client.get(f"/api/v1/screenings/{exact['id']}", headers=hr).json()
    assert again["verdict"] == "listed"
    assert again["matches"][0]["features"] == exact["matches"][0]["features"]
    assert again["query"]["first_surname"] == "Hernández"


def test_each_match_feature_is_reported(client, world):
    """R11: name variants of both countries and birth-date variants, each with the feature
    that explains it, and scores that do not saturate (R12a)."""
    listed_official(
        client,
        world,
        given="MARIA GUADALUPE",
        first="DE LA CRUZ",
        second="LOPEZ",
        dob=dt.date(1990, 4, 12),
        sex="F",
    )
    base = identity("MARIA GUADALUPE", "DE LA CRUZ", "LOPEZ", "1990-04-12")
    variants: list[tuple[dict[str, Any], str, Any]] = [
        ({"given_names": "Ma. Guadalupe"}, "given_name_abbreviation", True),
        ({"given_names": "M. GUADALUPE"}, "given_name_initial", True),
        ({"given_names": "GUADALUPE"}, "given_names_partial", True),
        ({"given_names": "GUADALUPE MARIA"}, "given_names_reordered", True),
        ({"first_surname": "LOPEZ", "second_surname": "DE LA CRUZ"}, "surnames_swapped", True),
        ({"second_surname": None}, "second_surname_missing", True),
        ({"first_surname": "CRUZ"}, "particles_or_spacing_differ", True),
        ({"first_surname": "DE LA KRUZ"}, "phonetic_match", True),
        ({"date_of_birth": "1990-12-04"}, "dob", "day_month_swapped"),
        ({"date_of_birth": "1990-04-13"}, "dob", "one_digit_typo"),
        ({"date_of_birth": "1990-01-01"}, "dob", "year_only"),
    ]
    out = batch(client, world["mx_hr"].headers, [{**base, **v} for v, _f, _x in variants])
    assert out["summary"]["errors"] == 0
    scores = []
    for (variant, feature, expected), item in zip(variants, out["items"], strict=True):
        (match,) = item["result"]["matches"]
        assert match["features"][feature] == expected, (variant, match["features"])
        assert match["score"] < 100.0, variant
        scores.append(match["score"])
    assert len(set(scores)) > len(scores) // 2  # distinguishable, not saturated (R12a)
    assert all(item["result"]["verdict"] in ("listed", "review") for item in out["items"])


def test_batch_limits_order_and_per_item_errors(client, world, app):
    """One answer per item in order; a bad item gets a problem in its place; 1,001 items are
    refused; 1,000 take a constant number of statements."""
    listed_official(client, world)
    hr = world["mx_hr"].headers
    bad_curp = make_curp("JUAN CARLOS", "HERNANDEZ", "GARCIA", dt.date(1985, 3, 14), "M")[:-1] + "0"
    conflicting = make_curp("JUAN CARLOS", "HERNANDEZ", "GARCIA", dt.date(1985, 3, 14), "M")
    items = [
        JUAN,
        {"given_names": "X", "first_surname": "Y"},  # no date of birth
        {**JUAN, "identifiers": [{"scheme": "CURP", "value": bad_curp}]},
        {**JUAN, "date_of_birth": "2030-01-01"},
        identity("ROSA", "LUNA", None, "1970-01-01"),
        {
            **JUAN,
            "date_of_birth": "1985-03-15",
            "identifiers": [{"scheme": "CURP", "value": conflicting}],
        },
        "JUAN CARLOS HERNANDEZ GARCIA",  # not an object
    ]
    out = batch(client, hr, items)
    assert [i["index"] for i in out["items"]] == list(range(7))
    assert out["summary"] == {"items": 7, "clear": 1, "review": 0, "listed": 2, "errors": 4}
    assert out["items"][6]["problem"]["errors"][0]["field"] == "body.items.6"
    assert out["items"][0]["result"]["verdict"] == "listed"
    missing = out["items"][1]["problem"]
    assert missing["status"] == 422
    assert missing["code"] == "VALIDATION_ERROR"
    assert missing["errors"][0]["field"] == "body.items.1.date_of_birth"
    assert out["items"][2]["problem"]["code"] == "CURP_INVALID_CHECK_DIGIT"
    assert out["items"][2]["problem"]["errors"][0]["field"] == "body.items.2.identifiers.0.value"
    assert out["items"][3]["problem"]["errors"][0]["field"] == "body.items.3.date_of_birth"
    assert out["items"][4]["result"]["verdict"] == "clear"
    # A CURP that disagrees with the given date is a warning and a feature, not an error.
    conflict = out["items"][5]["result"]
    assert conflict["warnings"] == ["identifier_dob_conflict"]
    assert conflict["matches"][0]["features"]["identifier_dob_conflict"] is True
    assert conflict["matches"][0]["matched_by"] == "identifier"
    assert len({i["result"]["batch_id"] for i in out["items"] if i["result"]}) == 1

    too_many = client.post("/api/v1/screenings/batch", json={"items": [JUAN] * 1001}, headers=hr)
    assert too_many.status_code == 422
    assert too_many.json()["code"] == "BATCH_TOO_LARGE"

    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    engine = app.state.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        people = [
            identity(
                "JUAN CARLOS", "HERNANDEZ", "GARCIA", dt.date(1950, 1, 1) + dt.timedelta(days=n)
            )
            for n in range(999)
        ]
        full = batch(client, hr, [JUAN, *people])
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert full["summary"]["items"] == 1000
    assert full["summary"]["errors"] == 0
    assert full["summary"]["listed"] == 1
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) < 20, len(selects)  # amortised: not one lookup per item


def test_decisions_suppress_repeats_but_never_identifier_matches(client, world):
    """R12a: a not_same_person ruling shows beside the candidate in later screenings of the
    same identity and keeps it from raising review again; same_person confirms it; an
    identifier match is never suppressed; only the screening's agency or admin may rule."""
    listed = listed_official(client, world)
    hr = world["mx_hr"].headers
    query = {**JUAN, "date_of_birth": "1985-01-01"}
    first = screen(client, hr, query)
    assert first["verdict"] == "review"
    url = f"/api/v1/screenings/{first['id']}/decisions"
    ruling = {
        "official_id": listed["id"],
        "decision": "not_same_person",
        "reasons": "Different mother's name and place of birth on the birth certificate",
    }
    for caller in ("mx_hr_fgr", "us_hr", "us_admin"):
        assert client.post(url, json=ruling, headers=world[caller].headers).status_code == 404
    assert (
        client.post(url, json={**ruling, "official_id": first["id"]}, headers=hr).json()["code"]
        == "NOT_A_CANDIDATE"
    )
    r = client.post(url, json=ruling, headers=hr)
    assert r.status_code == 201, r.text
    assert r.json()["decision"] == "not_same_person"

    later = screen(client, world["mx_admin"].headers, query)
    assert later["verdict"] == "clear"
    (match,) = later["matches"]
    assert match["verdict"] == "clear"
    assert match["previous_decision"]["decision"] == "not_same_person"
    assert match["previous_decision"]["screening_id"] == first["id"]
    # Another country's screening of the same identity is not ruled by Mexico's reviewer.
    assert screen(client, world["us_hr"].headers, query)["verdict"] == "review"
    # Another identity is not covered by the ruling.
    assert screen(client, hr, {**query, "given_names": "J. CARLOS"})["verdict"] == "review"
    # The screening shows the ruling recorded on it.
    kept = client.get(f"/api/v1/screenings/{first['id']}", headers=hr).json()
    assert [d["decision"] for d in kept["decisions"]] == ["not_same_person"]
    assert kept["matches"][0]["previous_decision"] is None

    # same_person: a later screening of that identity is listed.
    near = {**JUAN, "date_of_birth": "1985-02-01"}
    r = client.post(
        f"/api/v1/screenings/{screen(client, hr, near)['id']}/decisions",
        json={**ruling, "decision": "same_person", "reasons": "Confirmed by fingerprints"},
        headers=hr,
    )
    assert r.status_code == 201
    assert screen(client, hr, near)["verdict"] == "listed"

    # An identifier match stands whatever was ruled.
    curp = make_curp("JUAN CARLOS", "HERNANDEZ", "GARCIA", dt.date(1985, 3, 14), "M")
    by_id = {**query, "identifiers": [{"scheme": "CURP", "value": curp}]}
    first_id = screen(client, hr, by_id)
    client.post(f"/api/v1/screenings/{first_id['id']}/decisions", json=ruling, headers=hr)
    assert screen(client, hr, by_id)["verdict"] == "listed"


def test_cross_border_candidate_view(client, world):
    """R9, R24: across the border a candidate shows names, year of birth and the listing's
    verdict-level facts, never the date of birth; the screening belongs to its agency."""
    listed_official(client, world)
    us = screen(client, world["us_hr"].headers, JUAN)
    assert us["verdict"] == "listed"
    assert us["country"] == "US"
    (match,) = us["matches"]
    assert match["view"] == "public"
    assert match["candidate"] == {
        "country": "MX",
        "given_names": "JUAN CARLOS",
        "first_surname": "HERNANDEZ",
        "second_surname": "GARCIA",
        "date_of_birth": None,
        "year_of_birth": 1985,
    }
    assert match["basis"] == "failed_vetting"
    assert match["listed_by_country"] == "MX"
    assert "1985-03-14" not in json.dumps(match)
    url = f"/api/v1/screenings/{us['id']}"
    assert client.get(url, headers=world["us_hr"].headers).status_code == 200
    assert client.get(url, headers=world["us_admin"].headers).status_code == 200
    for caller in ("us_hr_dea", "mx_admin", "mx_hr"):
        assert client.get(url, headers=world[caller].headers).status_code == 404
    assert client.get(url, headers=world["mx_vetter"].headers).status_code == 403


def test_overturned_listing_is_shown_but_clear(client, world):
    """R10: an overturned listing stops blocking; the candidate is shown with its status and
    contributes clear."""
    listed = listed_official(client, world)
    admin = world["mx_admin"].headers
    appeal = client.post(
        f"/api/v1/listings/{listed['listing_id']}/appeals",
        json={"grounds": "The polygraph operator was not certified."},
        headers=admin,
    ).json()
    assert screen(client, world["mx_hr"].headers, JUAN)["verdict"] == "listed"  # under appeal
    client.post(
        f"/api/v1/listings/{listed['listing_id']}/appeals/{appeal['id']}/decision",
        json={"decision": "overturned", "reasons": "Retest clean; operator not certified."},
        headers=admin,
    )
    out = screen(client, world["mx_hr"].headers, JUAN)
    assert out["verdict"] == "clear"
    assert out["matches"][0]["listing_status"] == "overturned"
    assert out["matches"][0]["verdict"] == "clear"


def test_screenings_are_audited_without_names_or_identifiers(client, world, factory):
    """R12: who asked, about what (the screening id) and the answer; no names, dates of
    birth, identifiers or blind indexes."""
    listed_official(client, world)
    curp = make_curp("JUAN CARLOS", "HERNANDEZ", "GARCIA", dt.date(1985, 3, 14), "M")
    one = screen(
        client, world["mx_hr"].headers, {**JUAN, "identifiers": [{"scheme": "CURP", "value": curp}]}
    )
    batch(client, world["us_hr"].headers, [JUAN, identity("ANA", "RUIZ", None, "1990-01-01")])
    with unit_of_work(factory) as session:
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.action.like("screening.%")).order_by(AuditEvent.id)
        ).all()
        index = session.get(Screening, __import__("uuid").UUID(one["id"])).identifier_indexes[0]
    assert [e.action for e in events] == ["screening.create", "screening.batch"]
    single, many = events
    assert single.resource_id == one["id"]
    assert single.actor_country == "MX"
    assert single.details["verdict"] == "listed"
    assert single.details["identifier_schemes"] == ["CURP"]
    assert many.details["listed"] == 1
    assert many.details["clear"] == 1
    dumped = json.dumps([e.details for e in events])
    for secret in (curp, index, "HERNANDEZ", "JUAN", "1985-03-14", "RUIZ"):
        assert secret not in dumped


def test_upheld_listing_still_blocks(client, world):
    listed = listed_official(client, world)
    admin = world["mx_admin"].headers
    appeal = client.post(
        f"/api/v1/listings/{listed['listing_id']}/appeals",
        json={"grounds": "The polygraph operator was not certified."},
        headers=admin,
    ).json()
    client.post(
        f"/api/v1/listings/{listed['listing_id']}/appeals/{appeal['id']}/decision",
        json={"decision": "upheld", "reasons": "The operator was certified after all."},
        headers=admin,
    )
    assert screen(client, world["mx_hr"].headers, JUAN)["verdict"] == "listed"
