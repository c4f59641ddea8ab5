"""Importing separations: R4 listings exactly as through the API, appointments ended, rejected
rows never written, idempotent re-runs."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from app.models import Appointment, Listing, ListingEvent, Official, Separation
from tests.imports.conftest import Importer, World
from tests.imports.support import (
    EVALUATION_HEADER,
    OFFICIAL_HEADER,
    SEPARATION_HEADER,
    evaluation,
    official,
    to_csv,
)


@pytest.fixture
def officials(importer: Importer, world: World) -> list[str]:
    rows = [official(n) for n in range(6)]
    assert importer(world.mx_admin, "officials", to_csv(OFFICIAL_HEADER, rows)).accepted == 6
    return [r["source_ref"] for r in rows]


def sep(n: int, ref: str, reason: str, on: str = "2026-07-01") -> dict[str, str]:
    return {
        "source_ref": f"SEP-{n}",
        "official_ref": ref,
        "reason": reason,
        "effective_on": on,
        "summary": "",
    }


def test_for_cause_lists_and_other_reasons_only_end_the_appointment(
    importer: Importer, world: World, officials: list[str]
) -> None:
    failed = [evaluation(1, officials[2], results={"background": "fail"})]
    assert importer(world.mx_vetter, "evaluations", to_csv(EVALUATION_HEADER, failed)).accepted == 1
    rows = [
        sep(1, officials[0], "resignation"),
        sep(2, officials[1], "expelled_corruption"),
        sep(3, officials[2], "failed_vetting"),  # follows the failed evaluation (R4)
        sep(4, officials[3], "retirement"),
    ]
    run = importer(world.mx_admin, "separations", to_csv(SEPARATION_HEADER, rows))
    assert (run.accepted, run.rejected) == (4, 0), run.errors
    with importer.factory() as session:
        ids = {r[0]: r[1] for r in session.execute(select(Official.source_ref, Official.id))}
        seps = {s.source_ref: s for s in session.scalars(select(Separation))}
        listings = {x.official_id: x for x in session.scalars(select(Listing))}
        ended = {
            r[0]: r[1]
            for r in session.execute(select(Appointment.official_id, Appointment.ended_on))
        }
        assert seps["SEP-1"].listing_id is None
        assert seps["SEP-4"].listing_id is None
        expelled = listings[ids[officials[1]]]
        assert (expelled.basis, expelled.source_type) == ("expelled", "separation")
        assert seps["SEP-2"].listing_id == expelled.id
        assert expelled.listed_on == dt.date(2026, 7, 1)
        # The failed_vetting separation joins the evaluation's listing instead of a second one.
        joined = listings[ids[officials[2]]]
        assert joined.basis == "failed_vetting"
        assert seps["SEP-3"].listing_id == joined.id
        kinds = session.scalars(
            select(ListingEvent.kind).where(ListingEvent.listing_id == joined.id)
        ).all()
        assert sorted(kinds) == ["evidence_added", "listed"]
        assert len(listings) == 2
        for n in range(4):
            assert ended[ids[officials[n]]] == dt.date(2026, 7, 1)
        assert ended[ids[officials[4]]] is None
        assert seps["SEP-1"].recorded_by == world.mx_admin.id


def test_rejected_separations_are_reported_and_never_written(
    importer: Importer, world: World, officials: list[str]
) -> None:
    rows = [
        sep(1, officials[0], "resignation"),
        sep(2, officials[0], "expelled_corruption"),  # the appointment has just ended
        sep(3, "NOBODY", "resignation"),
        sep(4, officials[1], "resignation", on="2001-01-01"),  # before the appointment began
        sep(5, officials[2], "dismissal_for_cause", on="2001-01-01"),
        sep(6, officials[3], "laid_off"),
    ]
    run = importer(world.mx_admin, "separations", to_csv(SEPARATION_HEADER, rows))
    assert run.accepted == 1
    assert [(e[0], e[2]) for e in run.errors] == [
        (3, "APPOINTMENT_ENDED"),
        (4, "OFFICIAL_NOT_FOUND"),
        (5, "VALIDATION_ERROR"),
        (6, "VALIDATION_ERROR"),
        (7, "VALIDATION_ERROR"),
    ]
    assert importer.count(Separation) == 1
    assert importer.count(Listing) == 0
    assert importer.count(Appointment, Appointment.ended_on.is_not(None)) == 1


def test_another_countrys_official_is_not_found(
    importer: Importer, world: World, officials: list[str]
) -> None:
    run = importer(
        world.us_admin,
        "separations",
        to_csv(SEPARATION_HEADER, [sep(1, officials[0], "resignation")]),
    )
    assert [e[2] for e in run.errors] == ["OFFICIAL_NOT_FOUND"]


def test_rerunning_separations_adds_nothing(
    importer: Importer, world: World, officials: list[str]
) -> None:
    rows = [sep(1, officials[0], "resignation"), sep(2, officials[1], "expelled_human_rights")]
    text = to_csv(SEPARATION_HEADER, rows)
    assert importer(world.mx_admin, "separations", text).accepted == 2
    again = importer(world.mx_admin, "separations", text)
    assert (again.accepted, again.duplicates, again.rejected) == (0, 2, 0)
    assert importer.count(Separation) == 2
    assert importer.count(Listing) == 1
