"""Importing evaluations: R5 outcome under the policy, R7 listings exactly as the API opens
them, R25 reciprocity, rejected rows never written, idempotent re-runs."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.db import unit_of_work
from app.models import (
    AuditEvent,
    Evaluation,
    Listing,
    ListingEvent,
    Official,
    TaskForce,
    TaskForceMember,
)
from tests.conftest import T0
from tests.imports.conftest import Importer, World
from tests.imports.support import (
    COMPONENTS,
    EVALUATION_HEADER,
    OFFICIAL_HEADER,
    evaluation,
    official,
    to_csv,
    to_ndjson,
)
from tests.registry.builders import evaluate, with_result


@pytest.fixture
def officials(importer: Importer, world: World) -> list[str]:
    rows = [official(n) for n in range(6)]
    run = importer(world.mx_admin, "officials", to_csv(OFFICIAL_HEADER, rows))
    assert run.accepted == 6
    return [r["source_ref"] for r in rows]


def _evaluation(importer: Importer, ref: str) -> Evaluation:
    with importer.factory() as session:
        return session.scalars(select(Evaluation).where(Evaluation.source_ref == ref)).one()


def _official_id(importer: Importer, ref: str) -> uuid.UUID:
    with importer.factory() as session:
        return session.scalars(select(Official.id).where(Official.source_ref == ref)).one()


def test_outcomes_follow_the_components_and_failures_list(
    importer: Importer, world: World, officials: list[str]
) -> None:
    rows = [
        evaluation(1, officials[0], outcome="pass"),
        evaluation(2, officials[1], results={"polygraph": "fail"}),
        evaluation(3, officials[2], results={"toxicology": "refused", "polygraph": "fail"}),
        evaluation(4, officials[3], results={"medical": ""}),  # a required component missing
    ]
    run = importer(world.mx_vetter, "evaluations", to_csv(EVALUATION_HEADER, rows))
    assert (run.accepted, run.rejected) == (4, 0), run.errors

    passed = _evaluation(importer, "EV-1")
    assert passed.outcome == "pass"
    assert passed.valid_until == dt.date(2029, 6, 1)  # Mexico: 36 months (R6, R14)
    assert passed.policy_id is not None
    assert passed.interval_months == 36
    assert passed.recorded_by == world.mx_vetter.id
    assert passed.conducted_by == world.mx_vetter_body
    assert passed.conducted_by_country == "MX"
    inconclusive = _evaluation(importer, "EV-4")
    assert inconclusive.outcome == "inconclusive"
    assert inconclusive.retest_by == dt.date(2026, 8, 30)
    assert inconclusive.valid_until is None

    failed, refused = _evaluation(importer, "EV-2"), _evaluation(importer, "EV-3")
    assert (failed.outcome, refused.outcome) == ("fail", "refused")  # refusal wins (R5, R7)
    with importer.factory() as session:
        listings = session.scalars(select(Listing).order_by(Listing.basis)).all()
        assert [(x.basis, x.source_id, x.status) for x in listings] == [
            ("failed_vetting", failed.id, "active"),
            ("refused_vetting", refused.id, "active"),
        ]
        for x in listings:
            assert x.source_type == "evaluation"
            assert x.listed_by == world.mx_vetter_body
            assert x.listed_on == dt.date(2026, 6, 1)
        actions = session.scalars(select(AuditEvent.action)).all()
    assert actions.count("listing.create") == 2
    assert "import.batch" in actions


def test_rejected_evaluation_rows_are_reported_and_never_written(
    importer: Importer, world: World, officials: list[str]
) -> None:
    rows = [
        evaluation(1, officials[0], results={"polygraph": "fail"}, outcome="pass"),  # R5
        evaluation(2, "NO-SUCH-OFFICIAL"),
        evaluation(3, officials[1], body="PEJAL"),  # not a vetting body
        evaluation(4, officials[1], body="FBISEC"),  # another country's acronym
        evaluation(5, officials[1], body=str(world.us_vetter_body)),  # another country's body
        evaluation(6, officials[1], conducted_on="2027-01-01"),
        evaluation(7, officials[1], conducted_on="1950-01-01"),
        evaluation(8, officials[1], trigger="whim"),
        evaluation(9, officials[1], results={"polygraph": "maybe"}),
    ]
    run = importer(world.mx_vetter, "evaluations", to_csv(EVALUATION_HEADER, rows))
    assert (run.accepted, run.rejected) == (0, 9)
    codes = {line: code for line, _, code, _ in run.errors}
    assert codes == {
        2: "OUTCOME_MISMATCH",
        3: "OFFICIAL_NOT_FOUND",
        4: "NOT_A_VETTING_BODY",
        5: "AGENCY_NOT_FOUND",
        6: "NOT_OWN_COUNTRY",
        7: "VALIDATION_ERROR",
        8: "VALIDATION_ERROR",
        9: "VALIDATION_ERROR",
        10: "VALIDATION_ERROR",
    }
    reasons = {line: reason for line, _, _, reason in run.errors}
    assert "contradicts the components, which give fail" in reasons[2]
    assert "future" in reasons[7]
    assert "birth" in reasons[8]
    assert importer.count(Evaluation) == 0
    assert importer.count(Listing) == 0


def test_ndjson_rows_in_the_api_shape(
    importer: Importer, world: World, officials: list[str]
) -> None:
    good = {
        "source_ref": "EV-A",
        "official_id": str(_official_id(importer, officials[0])),
        "conducted_by": str(world.mx_vetter_body),
        "trigger": "random",
        "conducted_on": "2026-05-01",
        "components": [{"type": c, "result": "pass"} for c in COMPONENTS],
        "notes": "imported",
    }
    twice = {**good, "source_ref": "EV-B"}
    twice["components"] = [*good["components"], {"type": "polygraph", "result": "pass"}]
    both = {**good, "source_ref": "EV-C", "official_ref": officials[1]}
    run = importer(world.mx_vetter, "evaluations", to_ndjson([good, twice, both]), fmt="ndjson")
    assert run.accepted == 1
    assert [(e[0], e[2]) for e in run.errors] == [(2, "VALIDATION_ERROR"), (3, "VALIDATION_ERROR")]
    assert _evaluation(importer, "EV-A").notes == "imported"


def test_a_listing_from_an_import_is_the_listing_the_api_opens(
    importer: Importer,
    world: World,
    officials: list[str],
    client: TestClient,
    make_user: object,
) -> None:
    vetter = make_user("vetting_officer", "MX", agency_id=world.mx_vetter_body)  # type: ignore[operator]
    via_api = _official_id(importer, officials[0])
    evaluate(
        client,
        vetter.headers,
        str(via_api),
        world.mx_vetter_body,
        components=with_result("financial", "fail"),
        conducted_on=dt.date(2026, 6, 1),
    )
    rows = [evaluation(1, officials[1], results={"financial": "fail"})]
    assert importer(world.mx_vetter, "evaluations", to_csv(EVALUATION_HEADER, rows)).accepted == 1
    via_import = _official_id(importer, officials[1])

    def shape(official_id: uuid.UUID) -> tuple[object, ...]:
        with importer.factory() as session:
            listing = session.scalars(
                select(Listing).where(Listing.official_id == official_id)
            ).one()
            events = session.scalars(
                select(
                    ListingEvent.kind,
                ).where(ListingEvent.listing_id == listing.id)
            ).all()
            return (
                listing.basis,
                listing.source_type,
                listing.status,
                listing.listed_by,
                listing.listed_on,
                listing.contact,
                tuple(events),
            )

    assert shape(via_import) == shape(via_api)
    # And the API sees the imported listing as it sees its own (R9).
    r = client.get(f"/api/v1/listings?official_id={via_import}", headers=world.mx_admin.headers)
    assert r.status_code == 200, r.text
    assert [i["basis"] for i in r.json()["items"]] == ["failed_vetting"]


def test_rerunning_evaluations_adds_nothing(
    importer: Importer, world: World, officials: list[str]
) -> None:
    rows = [
        evaluation(n, officials[n % 3], results={"polygraph": "fail"} if n == 2 else None)
        for n in range(5)
    ]
    text = to_csv(EVALUATION_HEADER, rows)
    first = importer(world.mx_vetter, "evaluations", text, batch_size=2)
    assert (first.accepted, first.duplicates) == (5, 0)
    second = importer(world.mx_vetter, "evaluations", text, batch_size=2)
    assert (second.accepted, second.duplicates) == (0, 5)
    assert importer.count(Evaluation) == 5
    assert importer.count(Listing) == 1


def test_reciprocal_evaluations_across_the_border_follow_r25(
    importer: Importer, world: World, officials: list[str]
) -> None:
    target = _official_id(importer, officials[0])
    row = evaluation(1, officials[0], body="FBISEC", trigger="reciprocal")
    run = importer(world.us_vetter, "evaluations", to_csv(EVALUATION_HEADER, [row]))
    assert [e[2] for e in run.errors] == ["OFFICIAL_NOT_FOUND"]  # not on a joint task force

    with unit_of_work(importer.factory) as session:
        tf = TaskForce(
            name="JTF",
            focus="fentanyl",
            lead_agency_id=world.us_fbi,
            created_by=world.us_admin.id,
            created_at=T0,
        )
        session.add(tf)
        session.flush()
        session.add(
            TaskForceMember(
                task_force_id=tf.id,
                official_id=target,
                role="member",
                joined_on=dt.date(2026, 1, 1),
                added_by=world.us_admin.id,
                created_at=T0,
            )
        )
    periodic = evaluation(2, officials[0], body="FBISEC", trigger="periodic")
    run = importer(world.us_vetter, "evaluations", to_csv(EVALUATION_HEADER, [periodic, row]))
    assert [e[2] for e in run.errors] == ["RECIPROCAL_ONLY"]
    assert run.accepted == 1
    got = _evaluation(importer, "EV-1")
    assert (got.official_id, got.conducted_by_country, got.trigger) == (target, "US", "reciprocal")


def test_task_forces_of_imported_members_follow(
    importer: Importer, world: World, officials: list[str]
) -> None:
    """R19: a batch touching a member re-derives the task force in its own transaction and
    records the transition with its cause."""
    from app.models import TaskForceEvent

    member = _official_id(importer, officials[0])
    with unit_of_work(importer.factory) as session:
        tf = TaskForce(
            name="JTF Norte",
            focus="weapons",
            lead_agency_id=world.mx_police,
            created_by=world.mx_admin.id,
            created_at=T0,
            recorded_status="active",
        )
        session.add(tf)
        session.flush()
        tf_id = tf.id
        session.add(
            TaskForceMember(
                task_force_id=tf.id,
                official_id=member,
                role="lead",
                joined_on=dt.date(2026, 1, 1),
                added_by=world.mx_admin.id,
                created_at=T0,
            )
        )
    rows = [evaluation(1, officials[0], results={"polygraph": "refused"})]
    assert importer(world.mx_vetter, "evaluations", to_csv(EVALUATION_HEADER, rows)).accepted == 1
    with importer.factory() as session:
        assert session.get(TaskForce, tf_id).recorded_status == "suspended"  # type: ignore[union-attr]
        event = session.scalars(
            select(TaskForceEvent).where(TaskForceEvent.task_force_id == tf_id)
        ).one()
        assert (event.kind, event.to_status) == ("suspended", "suspended")
        assert event.cause["kind"] == "import.evaluations"
        assert event.cause["official_ids"] == [str(member)]
