"""R12b: watches left by screenings fire on listing, overturn and correction; the payload
keeps to verdict-level facts across the border (R9, R24)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from app.services.registry.identifiers import make_curp
from app.services.screening.watches import identity_key
from tests.registry.builders import evaluate, official_body, register, with_result
from tests.watches.support import watch_screening

DOB = dt.date(1985, 3, 14)
FAIL = with_result("polygraph", "fail")
NOTIFICATIONS = "/api/v1/notifications"


def inbox(client: Any, caller: Any, **params: Any) -> list[dict[str, Any]]:
    r = client.get(NOTIFICATIONS, params=params, headers=caller.headers)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


def fail(client: Any, world: dict[str, Any], official_id: str) -> dict[str, Any]:
    return evaluate(
        client, world["mx_vetter"].headers, official_id, world["mx_c3"], components=FAIL
    )


def test_identity_key_normalises_names_and_is_keyed(settings: Any, base_settings: Any) -> None:
    """One definition for screenings and watches: accents, case and spacing do not matter,
    the date and the key do."""
    key = identity_key(settings, "María de los Ángeles", "López", None, DOB)
    assert key == identity_key(settings, "MARIA DE LOS  ANGELES", "lopez", "", DOB)
    assert len(key) == 64
    assert int(key, 16) >= 0
    assert key != identity_key(settings, "MARIA DE LOS ANGELES", "LOPEZ", None, DOB.replace(day=15))
    assert key != identity_key(settings, "MARIA DE LOS ANGELES", "LOPEZ", "PEREZ", DOB)
    other = base_settings.model_copy(update={"blind_index_key": "A" * 43})
    assert key != identity_key(other, "MARIA DE LOS ANGELES", "LOPEZ", None, DOB)


def test_listing_of_a_matched_official_reaches_the_other_country_at_verdict_level(
    client: Any, factory: Any, settings: Any, world: dict[str, Any]
) -> None:
    """A U.S. agency screened a candidate who matched a Mexican official; when that official
    is listed the FBI is told the verdict-level facts and nothing of the dossier (R9, R24)."""
    body = official_body(world["mx_police"], dob=DOB)
    official = register(client, world["mx_hr"].headers, body)
    curp = body["identifiers"][0]["value"]
    _, watch_id = watch_screening(
        factory,
        settings,
        world["us_hr"],
        given="JUAN CARLOS",
        first="HERNANDEZ",
        second=None,
        dob=DOB,
        matches=[(official["id"], "review")],
    )
    assert inbox(client, world["us_hr"]) == []

    listing_id = fail(client, world, official["id"])["listing_id"]

    (note,) = inbox(client, world["us_hr"])
    assert note["kind"] == "listing.listed"
    assert note["listing_id"] == listing_id
    assert note["official_id"] == official["id"]
    assert note["watch_id"] == str(watch_id)
    assert note["read_at"] is None
    payload = note["payload"]
    assert payload["official"] == {
        "id": official["id"],
        "country": "MX",
        "given_names": "JUAN CARLOS",
        "first_surname": "HERNANDEZ",
        "second_surname": "GARCIA",
    }
    listing = payload["listing"]
    assert listing["basis"] == "failed_vetting"
    assert listing["status"] == "active"
    assert listing["listed_by"]["acronym"] == "C3JAL"
    assert listing["contact"]
    assert listing["listed_on"] == "2026-11-01"
    assert payload["watches"][0]["id"] == str(watch_id)
    text = json.dumps(note)
    for secret in (curp, DOB.isoformat(), "date_of_birth", "identifiers", "source_id", "polygraph"):
        assert secret not in text
    # Nobody else was told: not the Mexican agencies, which watched nothing.
    assert inbox(client, world["mx_hr"]) == []
    assert [n["id"] for n in inbox(client, world["us_admin"])] == [note["id"]]
    assert inbox(client, world["mx_admin"]) == []


def test_identity_registered_and_listed_after_the_screening_is_caught(
    client: Any, factory: Any, settings: Any, world: dict[str, Any]
) -> None:
    """No candidate at screening time: the person is registered and listed later, and the
    watch finds them by identity key, or by an identifier given to the screening."""
    _, by_name = watch_screening(
        factory,
        settings,
        world["mx_hr_fgr"],
        given="María de los Ángeles",
        first="López",
        second="Pérez",
        dob=DOB,
    )
    curp = make_curp("JOSE LUIS", "RAMIREZ", "SOTO", dt.date(1990, 7, 2), "M")
    _, by_curp = watch_screening(
        factory,
        settings,
        world["us_hr"],
        given="JOSE",  # a different spelling: only the CURP can connect them
        first="RAMIRES",
        second=None,
        dob=dt.date(1990, 2, 7),
        identifiers=[("CURP", curp)],
    )
    # A watch that was stopped, and one that expired, must not fire.
    _, stopped = watch_screening(
        factory,
        settings,
        world["mx_hr"],
        given="MARIA DE LOS ANGELES",
        first="LOPEZ",
        second="PEREZ",
        dob=DOB,
    )
    assert (
        client.delete(f"/api/v1/watches/{stopped}", headers=world["mx_hr"].headers).status_code
        == 204
    )

    maria = register(
        client,
        world["mx_hr"].headers,
        official_body(
            world["mx_police"],
            given="MARIA DE LOS ANGELES",
            first="LOPEZ",
            second="PEREZ",
            dob=DOB,
            sex="F",
        ),
    )
    jose_body = official_body(
        world["mx_police"],
        given="JOSE LUIS",
        first="RAMIREZ",
        second="SOTO",
        dob=dt.date(1990, 7, 2),
    )
    assert jose_body["identifiers"][0]["value"] == curp
    jose = register(client, world["mx_hr"].headers, jose_body)
    fail(client, world, maria["id"])
    fail(client, world, jose["id"])

    (note,) = inbox(client, world["mx_hr_fgr"])
    assert note["official_id"] == maria["id"]
    assert note["watch_id"] == str(by_name)
    (note,) = inbox(client, world["us_hr"])
    assert note["official_id"] == jose["id"]
    assert note["watch_id"] == str(by_curp)
    assert inbox(client, world["mx_hr"]) == []
    # The watch now follows the official by id too (so an overturn reaches it).
    watch = client.get(f"/api/v1/watches/{by_name}", headers=world["mx_hr_fgr"].headers).json()
    assert watch["matched_official_ids"] == [maria["id"]]
    assert watch["subject"]["given_names"] == "María de los Ángeles"


def test_overturn_reaches_watchers_and_everyone_notified_before(
    client: Any, factory: Any, settings: Any, world: dict[str, Any]
) -> None:
    """R10 + R12b: an appeal decided overturned notifies the watching agencies: the one told
    of the listing and one whose screening found the person already listed. Upheld does not."""
    official = register(client, world["mx_hr"].headers, official_body(world["mx_police"], dob=DOB))
    watch_screening(
        factory,
        settings,
        world["us_hr"],
        given="JUAN CARLOS",
        first="HERNANDEZ",
        second="GARCIA",
        dob=DOB,
        matches=[(official["id"], "high")],
    )
    listing_id = fail(client, world, official["id"])["listing_id"]
    watch_screening(
        factory,
        settings,
        world["mx_hr_fgr"],
        given="JUAN CARLOS",
        first="HERNANDEZ",
        second="GARCIA",
        dob=DOB,
        matches=[(official["id"], "high")],
    )
    admin = world["mx_admin"].headers
    r = client.post(
        f"/api/v1/listings/{listing_id}/appeals",
        json={"grounds": "The polygraph examiner was not certified."},
        headers=admin,
    )
    appeal_id = r.json()["id"]
    assert [n["kind"] for n in inbox(client, world["us_hr"])] == [
        "listing.listed"
    ]  # filed: nothing
    r = client.post(
        f"/api/v1/listings/{listing_id}/appeals/{appeal_id}/decision",
        json={"decision": "overturned", "reasons": "Examiner certification had lapsed."},
        headers=admin,
    )
    assert r.status_code == 200, r.text

    us = inbox(client, world["us_hr"])
    assert [n["kind"] for n in us] == ["listing.overturned", "listing.listed"]
    assert us[0]["payload"]["listing"]["status"] == "overturned"
    assert us[0]["payload"]["previously_notified"] is True
    assert "certification" not in json.dumps(us[0])  # the decision's reasons stay home
    (fgr,) = inbox(client, world["mx_hr_fgr"])
    assert fgr["kind"] == "listing.overturned"
    assert fgr["payload"]["previously_notified"] is False


def test_correction_reaches_an_agency_whose_watch_has_ended(
    client: Any, factory: Any, settings: Any, world: dict[str, Any]
) -> None:
    """R8 + R12b: a corrected evaluation withdraws its listing; every agency that received
    the listing is told, even after stopping its watch."""
    official = register(client, world["mx_hr"].headers, official_body(world["mx_police"], dob=DOB))
    _, watch_id = watch_screening(
        factory,
        settings,
        world["us_hr"],
        given="JUAN CARLOS",
        first="HERNANDEZ",
        second="GARCIA",
        dob=DOB,
        matches=[(official["id"], "review")],
    )
    wrong = fail(client, world, official["id"])
    r = client.delete(f"/api/v1/watches/{watch_id}", headers=world["us_hr"].headers)
    assert r.status_code == 204
    evaluate(
        client, world["mx_vetter"].headers, official["id"], world["mx_c3"], corrects_id=wrong["id"]
    )
    kinds = [
        (n["kind"], n["payload"]["previously_notified"]) for n in inbox(client, world["us_hr"])
    ]
    assert kinds == [("listing.corrected", True), ("listing.listed", False)]
    assert inbox(client, world["us_hr"])[0]["payload"]["listing"]["status"] == "overturned"


def test_watches_are_listed_and_stopped_within_scope(
    client: Any, factory: Any, settings: Any, world: dict[str, Any]
) -> None:
    """GET /watches: own agency's (an admin: own country's); DELETE deactivates; another
    agency or country gets 404, other roles 403 (R23-R25)."""
    ids = [
        watch_screening(
            factory,
            settings,
            world["mx_hr"],
            given=f"PEDRO {n}",
            first="RUIZ",
            second=None,
            dob=DOB,
            now=dt.datetime(2026, 11, 27, 12, n, tzinfo=dt.UTC),
        )[1]
        for n in range(3)
    ]
    watch_screening(
        factory, settings, world["mx_hr_fgr"], given="ANA", first="RUIZ", second=None, dob=DOB
    )
    watch_screening(
        factory, settings, world["us_hr"], given="ANN", first="ROSS", second=None, dob=DOB
    )

    r = client.get("/api/v1/watches", params={"limit": 2}, headers=world["mx_hr"].headers)
    page = r.json()
    assert [w["id"] for w in page["items"]] == [str(ids[2]), str(ids[1])]
    r = client.get(
        "/api/v1/watches", params={"cursor": page["next_cursor"]}, headers=world["mx_hr"].headers
    )
    assert [w["id"] for w in r.json()["items"]] == [str(ids[0])]
    assert r.json()["next_cursor"] is None
    assert (
        len(client.get("/api/v1/watches", headers=world["mx_admin"].headers).json()["items"]) == 4
    )
    assert (
        len(client.get("/api/v1/watches", headers=world["us_admin"].headers).json()["items"]) == 1
    )
    bad = client.get(
        "/api/v1/watches", params={"cursor": "bm90LWpzb24"}, headers=world["mx_hr"].headers
    )
    assert bad.status_code == 422

    url = f"/api/v1/watches/{ids[0]}"
    for outsider in ("mx_hr_fgr", "us_hr", "us_admin"):
        assert client.delete(url, headers=world[outsider].headers).status_code == 404
    assert client.delete(url, headers=world["mx_vetter"].headers).status_code == 403
    assert client.delete(url, headers=world["mx_admin"].headers).status_code == 204
    assert client.get(url, headers=world["mx_hr"].headers).json()["active"] is False
    r = client.get("/api/v1/watches", params={"active": "true"}, headers=world["mx_hr"].headers)
    assert str(ids[0]) not in {w["id"] for w in r.json()["items"]}
