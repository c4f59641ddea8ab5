"""Who may author a vetting result and its listing (R7, R8, R10, R25; #18 F2, F2c, F10).

Each country stays the only author of its own listings: a result is recorded only in the name of
the vetting body the officer works at, and only that body corrects it. A listing upheld on appeal
was decided by its country's admin and no correction withdraws it.
"""

from __future__ import annotations

import datetime as dt

from tests.registry.builders import (
    ALL_PASS,
    evaluate,
    make_agency,
    official_body,
    register,
    with_result,
)


def _listing(client, headers, listing_id):
    r = client.get(f"/api/v1/listings/{listing_id}", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def _nominated_mx_official(client, world, make_user):
    """A Mexican official nominated to a joint task force, so U.S. vetters can reach them
    reciprocally (R18, R25)."""
    official = register(client, world["mx_hr"].headers, official_body(world["mx_police"]))
    lead = make_user("task_force_lead", "MX", agency_id=world["mx_police"])
    r = client.post(
        "/api/v1/task-forces",
        json={
            "name": "Fuerza Tarea Binacional Armas",
            "focus": "weapons",
            "lead_agency_id": str(world["mx_police"]),
            "lead_user_ids": [str(lead.id)],
        },
        headers=world["mx_admin"].headers,
    )
    assert r.status_code == 201, r.text
    r = client.post(
        f"/api/v1/task-forces/{r.json()['id']}/nominations",
        json={"official_id": official["id"], "role": "member"},
        headers=lead.headers,
    )
    assert r.status_code == 201, r.text
    return official


def test_other_country_cannot_correct_away_a_listing(client, world, make_user):
    """F2 (R8, R10, R24): a U.S. vetting officer's reciprocal 'correction' of a Mexican
    evaluation is refused as if that evaluation did not exist, and the listing stays."""
    official = _nominated_mx_official(client, world, make_user)
    failed = evaluate(
        client,
        world["mx_vetter"].headers,
        official["id"],
        world["mx_c3"],
        components=with_result("polygraph", "fail"),
    )
    r = client.post(
        f"/api/v1/officials/{official['id']}/evaluations",
        json={
            "conducted_by": str(world["us_vet"]),
            "trigger": "reciprocal",
            "conducted_on": "2026-11-10",
            "components": ALL_PASS,
            "corrects_id": failed["id"],
        },
        headers=world["us_vetter"].headers,
    )
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == "body.corrects_id"
    # The same answer as for an id that exists nowhere: the refusal is no oracle.
    assert r.json()["errors"][0]["message"] == "no evaluation of this official"
    listing = _listing(client, world["mx_admin"].headers, failed["listing_id"])
    assert listing["status"] == "active"
    # A plain reciprocal evaluation is still welcome, and does not touch the listing.
    evaluate(
        client,
        world["us_vetter"].headers,
        official["id"],
        world["us_vet"],
        trigger="reciprocal",
        conducted_on=dt.date(2026, 11, 10),
    )
    assert _listing(client, world["mx_admin"].headers, failed["listing_id"])["status"] == "active"


def test_another_body_of_the_same_country_cannot_correct(client, world, make_user, factory):
    """R8: only the body that conducted a result corrects it."""
    cnca = make_agency(factory, country="MX", acronym="CNCA", can_vet=True)
    cnca_vetter = make_user("vetting_officer", "MX", agency_id=cnca)
    official = register(client, world["mx_hr"].headers, official_body(world["mx_police"]))
    failed = evaluate(
        client,
        world["mx_vetter"].headers,
        official["id"],
        world["mx_c3"],
        components=with_result("toxicology", "fail"),
    )
    r = evaluate(
        client,
        cnca_vetter.headers,
        official["id"],
        cnca,
        corrects_id=failed["id"],
        expect=422,
    )
    assert r["code"] == "NOT_SAME_VETTING_BODY"
    assert _listing(client, world["mx_admin"].headers, failed["listing_id"])["status"] == "active"


def test_upheld_listing_is_not_withdrawn_by_a_correction(client, world):
    """F2c (R10): once the owning admin upheld the listing on appeal, a correction of its
    evaluation is refused and the listing stays upheld."""
    official = register(client, world["mx_hr"].headers, official_body(world["mx_police"]))
    failed = evaluate(
        client,
        world["mx_vetter"].headers,
        official["id"],
        world["mx_c3"],
        components=with_result("polygraph", "fail"),
    )
    listing_id = failed["listing_id"]
    r = client.post(
        f"/api/v1/listings/{listing_id}/appeals",
        json={"grounds": "The examiner was biased."},
        headers=world["mx_admin"].headers,
    )
    assert r.status_code == 201, r.text
    r = client.post(
        f"/api/v1/listings/{listing_id}/appeals/{r.json()['id']}/decision",
        json={"decision": "upheld", "reasons": "Second examiner concurs."},
        headers=world["mx_admin"].headers,
    )
    assert r.status_code == 200, r.text
    r = evaluate(
        client,
        world["mx_vetter"].headers,
        official["id"],
        world["mx_c3"],
        corrects_id=failed["id"],
        expect=409,
    )
    assert r["code"] == "LISTING_UPHELD"
    assert _listing(client, world["mx_admin"].headers, listing_id)["status"] == "upheld"


def test_a_vetter_records_only_in_its_own_bodys_name(client, world, make_user, factory):
    """F10 (R7, R25): a CNCA vetting officer cannot record a failure (and so a listing) in the
    name of C3 Jalisco; nothing is written."""
    cnca = make_agency(factory, country="MX", acronym="CNCA", can_vet=True)
    cnca_vetter = make_user("vetting_officer", "MX", agency_id=cnca)
    official = register(client, world["mx_hr"].headers, official_body(world["mx_police"]))
    r = evaluate(
        client,
        cnca_vetter.headers,
        official["id"],
        world["mx_c3"],
        components=with_result("polygraph", "fail"),
        expect=422,
    )
    assert r["code"] == "NOT_OWN_VETTING_BODY"
    assert r["errors"][0]["field"] == "body.conducted_by"
    listings = client.get(
        "/api/v1/listings",
        params={"official_id": official["id"]},
        headers=world["mx_admin"].headers,
    )
    assert listings.json()["items"] == []
    evaluations = client.get(
        f"/api/v1/officials/{official['id']}/evaluations", headers=world["mx_admin"].headers
    )
    assert evaluations.json()["items"] == []
