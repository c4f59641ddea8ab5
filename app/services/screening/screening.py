"""Screening before hiring (R11, R12, R12a) and the screening half of the appointment and
registration gates (R3).

A screening asks "is this person listed?" about an identity (names, date of birth, optional
identifiers). Only listed people are screened against: an official with no listing at all is
never a candidate, whatever the score.

Candidates come from a constant number of indexed queries, whatever the size of the registry
or of a batch (docs/screening.md, "Performance"):

1. identifiers, by blind index (``official_identifiers.blind_index``, unique) — R11: an exact
   identifier match with a listed official decides the verdict;
2. names and date of birth, by blocking key (``official_name_keys.key``): the listed officials
   sharing the most keys with the query, at most ``screening_max_candidates``, with their names,
   birth dates and listings (and the listing agency) joined in the same statement; a batch
   fetches (key, official) pairs for all its items, then the facts of all their candidates;
3. earlier review decisions on the same identity (R12a), only when there are candidates.

A clear screening of one identity without identifiers is one ``SELECT``; with a candidate, two.

Candidates are then scored in Python with ``app.services.screening.matching.score`` and classified
with
the thresholds of the settings. A candidate contributes to the verdict:

* ``listed`` — a blocking listing and an identifier match on a scheme that names one person
  (CURP, RFC, SSN), or a score in the high band, or a reviewer's ``same_person`` decision;
* ``review`` — a blocking listing and a score in the review band, or an identifier match on a
  scheme that is unique only within an issuer (PASSPORT, EMPLOYEE_ID, NATIONAL_ID) without
  names that reach the review band;
* ``clear`` — its listings no longer block (overturned), or a reviewer ruled it out for this
  identity (``not_same_person``; never for an identifier match).

The screening's verdict is the gravest contribution. Listing statuses that block are
``app.models.listing.BLOCKING_STATUSES``, the same set the appointment gate and eligibility use.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

from sqlalchemy import ColumnElement, exists, func, select
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.db import after_transaction, unit_of_work
from app.domain.access import Principal, Role
from app.errors import AppError, FieldError, NotFound, ServiceUnavailable
from app.models import (
    Agency,
    Listing,
    Official,
    OfficialIdentifier,
    OfficialNameKey,
    Screening,
    ScreeningDecision,
    ScreeningMatch,
    Watch,
)
from app.models.base import new_id
from app.models.listing import BLOCKING_STATUSES
from app.services.audit import audit
from app.services.registry.identifiers import (
    UNIQUE_PERSON_SCHEMES,
    IdentifierError,
    IdentifierErrorCode,
    blind_index,
    validate_identifier,
)
from app.services.registry.officials import IdentifierInput
from app.services.screening.matching import (
    Identity,
    PreparedIdentity,
    Verdict,
    band_for,
    blocking_keys,
    combine_verdicts,
    prepare,
    score,
)

log = logging.getLogger(__name__)

NOT_SAME_PERSON: Final = "not_same_person"
SAME_PERSON: Final = "same_person"
GATE_PURPOSE: Final = "appointment_gate"
IDENTIFIER_DOB_CONFLICT: Final = "identifier_dob_conflict"
# Bound parameters per IN list: far below SQLite's 32,766 and PostgreSQL's 65,535, and small
# enough to keep plans on the index.
CHUNK: Final = 2000
_DOB_MISMATCH_CODES: Final = frozenset(
    {IdentifierErrorCode.CURP_BIRTH_DATE_MISMATCH, IdentifierErrorCode.RFC_BIRTH_DATE_MISMATCH}
)
# Keys of ScreeningMatch.features that are presented as fields of the match, not as features.
MATCHED_BY: Final = "matched_by"
CONTRIBUTES: Final = "verdict"

T = TypeVar("T")


# --- inputs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScreeningInput:
    """One identity to screen, as the service sees it (no HTTP types)."""

    given_names: str
    first_surname: str
    second_surname: str | None
    date_of_birth: dt.date
    identifiers: Sequence[IdentifierInput] = ()
    purpose: str | None = None
    watch: bool = False


@dataclass(frozen=True)
class _Query:
    data: ScreeningInput
    prepared: PreparedIdentity
    keys: tuple[str, ...]
    identifiers: tuple[tuple[str, str], ...]  # (scheme, blind index)
    warnings: tuple[str, ...]
    identity_key: str


def identity_key_of(
    settings: Settings,
    *,
    given_names: str,
    first_surname: str,
    second_surname: str | None,
    date_of_birth: dt.date,
) -> str:
    """The keyed hash that makes "the same identity" findable (R12a). One definition, shared
    with watches (R12b): ``app.services.screening.watches.identity_key``."""
    from app.services.screening.watches import identity_key

    return identity_key(settings, given_names, first_surname, second_surname, date_of_birth)


def _query(settings: Settings, data: ScreeningInput, *, today: dt.date, at: str) -> _Query:
    """Validate one identity. Identifiers are checked as at registration (R1) and refused with
    422 when malformed; a CURP or RFC whose birth date disagrees with the one given is kept and
    reported as ``identifier_dob_conflict`` (the screener may hold a wrong date, and the
    identifier is the stronger evidence). ``at`` prefixes the fields an error names: empty for
    one screening, ``items.3.`` for an item of a batch."""
    if data.date_of_birth >= today:
        raise FieldError(f"{at}date_of_birth", "must be in the past")
    identifiers: list[tuple[str, str]] = []
    warnings: list[str] = []
    for i, ident in enumerate(data.identifiers):
        try:
            compact = validate_identifier(ident.scheme, ident.value, date_of_birth=None)
        except IdentifierError as exc:
            raise exc.at(f"{at}identifiers.{i}.value") from None
        try:
            validate_identifier(ident.scheme, compact, date_of_birth=data.date_of_birth)
        except IdentifierError as exc:
            if exc.error_code not in _DOB_MISMATCH_CODES:  # pragma: no cover - checked above
                raise exc.at(f"{at}identifiers.{i}.value") from None
            if IDENTIFIER_DOB_CONFLICT not in warnings:
                warnings.append(IDENTIFIER_DOB_CONFLICT)
        entry = (ident.scheme, blind_index(settings.blind_index_key_bytes, ident.scheme, compact))
        if entry not in identifiers:
            identifiers.append(entry)
    identity = Identity(
        given_names=data.given_names,
        first_surname=data.first_surname,
        second_surname=data.second_surname or None,
        date_of_birth=data.date_of_birth,
    )
    prepared = prepare(identity)
    return _Query(
        data=data,
        prepared=prepared,
        keys=tuple(sorted(set(blocking_keys(prepared)))),
        identifiers=tuple(identifiers),
        warnings=tuple(warnings),
        identity_key=identity_key_of(
            settings,
            given_names=data.given_names,
            first_surname=data.first_surname,
            second_surname=data.second_surname,
            date_of_birth=data.date_of_birth,
        ),
    )


# --- what a match carries ------------------------------------------------------------------------


@dataclass(frozen=True)
class CandidateFacts:
    official_id: uuid.UUID
    country: str
    given_names: str
    first_surname: str
    second_surname: str | None
    date_of_birth: dt.date


@dataclass(frozen=True)
class ListingFacts:
    """What both countries may see of a listing (R9)."""

    listing_id: uuid.UUID
    official_id: uuid.UUID
    basis: str
    status: str
    listed_by: uuid.UUID
    listed_by_name: str
    listed_by_acronym: str
    listed_by_country: str
    listed_on: dt.date
    contact: str | None

    @property
    def blocking(self) -> bool:
        return self.status in BLOCKING_STATUSES

    def as_dict(self) -> dict[str, str]:
        return {
            "listing_id": str(self.listing_id),
            "official_id": str(self.official_id),
            "basis": self.basis,
            "status": self.status,
            "listed_by": str(self.listed_by),
            "listed_on": self.listed_on.isoformat(),
        }


@dataclass(frozen=True)
class DecisionFacts:
    decision: str
    screening_id: uuid.UUID
    decided_at: dt.datetime
    agency_id: uuid.UUID | None
    reasons: str | None


@dataclass
class Match:
    official_id: uuid.UUID
    score: float
    band: str  # "high" | "review"
    verdict: Verdict  # what this candidate contributes
    matched_by: str  # "identifier" | "name_and_birth_date"
    features: dict[str, Any]
    candidate: CandidateFacts
    listing: ListingFacts | None
    previous_decision: DecisionFacts | None = None
    rank: int = 0


@dataclass
class ScreeningResult:
    screening: Screening
    matches: list[Match]
    warnings: list[str] = field(default_factory=list)
    truncated: bool = False
    decisions: list[ScreeningDecision] = field(default_factory=list)
    watch_id: uuid.UUID | None = None


@dataclass
class _Found:
    matches: list[Match]
    truncated: bool

    @property
    def verdict(self) -> Verdict:
        return combine_verdicts(m.verdict for m in self.matches)


# --- the engine: a constant number of queries for any number of identities --------------------


def _chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _listed(column: Any) -> ColumnElement[bool]:
    """The official has a listing of any status: the registry screens against listed people
    only, so everybody else is left out by the index lookups themselves."""
    return exists().where(Listing.official_id == column)


def _identifier_hits(
    session: Session, queries: Sequence[_Query]
) -> dict[str, list[tuple[uuid.UUID, str]]]:
    """Blind index -> [(listed official, scheme)]: one per country at most, as an identifier
    is unique per country (#18 F4). One indexed query (R11)."""
    indexes = sorted({index for q in queries for _scheme, index in q.identifiers})
    hits: dict[str, list[tuple[uuid.UUID, str]]] = {}
    for chunk in _chunks(indexes):
        rows = session.execute(
            select(
                OfficialIdentifier.blind_index,
                OfficialIdentifier.official_id,
                OfficialIdentifier.scheme,
            ).where(
                OfficialIdentifier.blind_index.in_(chunk),
                _listed(OfficialIdentifier.official_id),
            )
        )
        for index, official_id, scheme in rows:
            hits.setdefault(index, []).append((official_id, scheme))
    return hits


def candidate_ids_stmt(keys: Sequence[str], limit: int) -> Any:
    """The blocking-key lookup of one identity: listed officials sharing the most keys, at
    most ``limit`` (``pk_official_name_keys``, led by key, serves the ``IN``)."""
    shared = func.count().label("shared")
    return (
        select(OfficialNameKey.official_id, shared)
        .where(OfficialNameKey.key.in_(list(keys)), _listed(OfficialNameKey.official_id))
        .group_by(OfficialNameKey.official_id)
        .order_by(shared.desc(), OfficialNameKey.official_id)
        .limit(limit)
    )


_FACT_COLUMNS: Final = (
    Official.id,
    Official.country,
    Official.given_names,
    Official.first_surname,
    Official.second_surname,
    Official.date_of_birth,
    Listing.id,
    Listing.basis,
    Listing.status,
    Listing.listed_by,
    Agency.name,
    Agency.acronym,
    Agency.country,
    Listing.listed_on,
    Listing.contact,
)

_Facts = tuple[dict[uuid.UUID, CandidateFacts], dict[uuid.UUID, list[ListingFacts]]]


def _collect(rows: Iterable[Any], facts: _Facts) -> None:
    """Rows of ``_FACT_COLUMNS`` (one per listing) into candidates and their listings."""
    candidates, listings = facts
    for row in rows:
        official_id = row[0]
        if official_id not in candidates:
            candidates[official_id] = CandidateFacts(*row[:6])
        listings.setdefault(official_id, []).append(
            ListingFacts(
                listing_id=row[6],
                official_id=official_id,
                basis=row[7],
                status=row[8],
                listed_by=row[9],
                listed_by_name=row[10],
                listed_by_acronym=row[11],
                listed_by_country=row[12],
                listed_on=row[13],
                contact=row[14],
            )
        )


def _sorted(facts: _Facts) -> _Facts:
    # Blocking listings first, then the most recent: the first one speaks for the candidate.
    for found in facts[1].values():
        found.sort(key=lambda x: (not x.blocking, -x.listed_on.toordinal(), str(x.listing_id)))
    return facts


def candidate_facts(session: Session, ids: Sequence[uuid.UUID]) -> _Facts:
    """Names, birth dates and listings (with the listing agency, R9) of these officials, in
    one statement per 2,000 ids. Officials without any listing are left out."""
    facts: _Facts = ({}, {})
    for chunk in _chunks(ids):
        _collect(
            session.execute(
                select(*_FACT_COLUMNS)
                .join(Listing, Listing.official_id == Official.id)
                .join(Agency, Agency.id == Listing.listed_by)
                .where(Official.id.in_(chunk))
            ),
            facts,
        )
    return _sorted(facts)


def single_candidates_stmt(keys: Sequence[str], limit: int) -> Any:
    """One identity's candidates with their facts in one statement: the blocking-key lookup
    (``candidate_ids_stmt``) as a subquery, joined to officials, listings and agencies."""
    ranked = candidate_ids_stmt(keys, limit).subquery("ranked")
    return (
        select(ranked.c.shared, *_FACT_COLUMNS)
        .select_from(ranked)
        .join(Official, Official.id == ranked.c.official_id)
        .join(Listing, Listing.official_id == Official.id)
        .join(Agency, Agency.id == Listing.listed_by)
    )


def _name_candidates(
    session: Session, queries: Sequence[_Query], limit: int, facts: _Facts
) -> list[tuple[list[uuid.UUID], bool]]:
    """Per query: candidate ids (most shared keys first) and whether some were left out. A
    single identity gets its candidates' facts in the same statement (added to ``facts``)."""
    if len(queries) == 1:
        rows = session.execute(single_candidates_stmt(queries[0].keys, limit + 1)).all()
        shared = {row[1]: row[0] for row in rows}
        _collect((row[1:] for row in rows), facts)
        ranked = sorted(shared, key=lambda oid: (-shared[oid], oid))
        return [(ranked[:limit], len(ranked) > limit)]
    # A batch fetches (key, official) pairs for every key of every item in a few statements and
    # ranks per item here: the limit cannot be applied per item in one SQL statement.
    by_key: dict[str, list[uuid.UUID]] = {}
    all_keys = sorted({k for q in queries for k in q.keys})
    for chunk in _chunks(all_keys):
        pairs = session.execute(
            select(OfficialNameKey.key, OfficialNameKey.official_id).where(
                OfficialNameKey.key.in_(chunk), _listed(OfficialNameKey.official_id)
            )
        )
        for key, official_id in pairs:
            by_key.setdefault(key, []).append(official_id)
    out: list[tuple[list[uuid.UUID], bool]] = []
    for q in queries:
        counts: Counter[uuid.UUID] = Counter()
        for key in q.keys:
            counts.update(by_key.get(key, ()))
        ranked = sorted(counts, key=lambda oid: (-counts[oid], oid))
        out.append((ranked[:limit], len(ranked) > limit))
    return out


def _latest_decisions(
    session: Session,
    identity_keys: Iterable[str],
    *,
    country: str,
    before: tuple[dt.datetime, uuid.UUID] | None = None,
) -> dict[tuple[str, uuid.UUID], DecisionFacts]:
    """The latest decision per (identity, official) recorded in ``country`` (R12a). A
    country's reviewers rule for that country's screenings only: one country's reviewer cannot
    clear a candidate for the other."""
    keys = sorted(set(identity_keys))
    out: dict[tuple[str, uuid.UUID], DecisionFacts] = {}
    for chunk in _chunks(keys):
        stmt = (
            select(
                ScreeningDecision.identity_key,
                ScreeningDecision.official_id,
                ScreeningDecision.decision,
                ScreeningDecision.screening_id,
                ScreeningDecision.created_at,
                ScreeningDecision.agency_id,
                ScreeningDecision.reasons,
            )
            .where(
                ScreeningDecision.identity_key.in_(chunk),
                ScreeningDecision.country == country,
            )
            .order_by(ScreeningDecision.created_at, ScreeningDecision.id)
        )
        if before is not None:
            at, screening_id = before
            stmt = stmt.where(
                ScreeningDecision.created_at <= at, ScreeningDecision.screening_id != screening_id
            )
        for key, official_id, decision, screening_id, at, agency_id, reasons in session.execute(
            stmt
        ):
            out[(key, official_id)] = DecisionFacts(decision, screening_id, at, agency_id, reasons)
    return out


def contribution(
    *,
    band: str,
    matched_by: str,
    listing: ListingFacts | None,
    decision: DecisionFacts | None,
) -> Verdict:
    """What one candidate contributes to a screening's verdict (R11, R12a)."""
    blocking = listing is not None and listing.blocking
    if decision is not None and decision.decision == SAME_PERSON:
        return "listed" if blocking else "clear"
    if decision is not None and decision.decision == NOT_SAME_PERSON and matched_by != "identifier":
        return "clear"
    if not blocking:
        return "clear"
    return "listed" if band == "high" else "review"


def _match_all(
    session: Session,
    settings: Settings,
    queries: Sequence[_Query],
    *,
    country: str,
    exclude: frozenset[uuid.UUID] = frozenset(),
) -> list[_Found]:
    """Screen every query with a constant number of statements (see the module docstring)."""
    high, review = settings.screening_high_threshold, settings.screening_review_threshold
    id_hits = _identifier_hits(session, queries) if any(q.identifiers for q in queries) else {}
    facts: _Facts = ({}, {})
    by_name = _name_candidates(session, queries, settings.screening_max_candidates, facts)
    wanted: set[uuid.UUID] = {oid for held in id_hits.values() for oid, _scheme in held}
    for ids, _truncated in by_name:
        wanted.update(ids)
    wanted -= exclude
    if not wanted:
        return [_Found([], truncated) for _ids, truncated in by_name]
    missing = sorted(wanted - facts[0].keys())
    if missing:
        more = candidate_facts(session, missing)
        facts[0].update(more[0])
        facts[1].update(more[1])
    candidates, listings = _sorted(facts)
    decisions = _latest_decisions(session, (q.identity_key for q in queries), country=country)

    found: list[_Found] = []
    for q, (name_ids, truncated) in zip(queries, by_name, strict=True):
        by_identifier: dict[uuid.UUID, str] = {}
        for _scheme, index in q.identifiers:
            for hit_id, hit_scheme in id_hits.get(index, ()):
                by_identifier.setdefault(hit_id, hit_scheme)
        matches: list[Match] = []
        for official_id in dict.fromkeys([*by_identifier, *name_ids]):
            candidate = candidates.get(official_id)
            if candidate is None or official_id in exclude:
                continue
            result = score(
                q.prepared,
                Identity(
                    given_names=candidate.given_names,
                    first_surname=candidate.first_surname,
                    second_surname=candidate.second_surname,
                    date_of_birth=candidate.date_of_birth,
                ),
            )
            features: dict[str, Any] = dict(result.features)
            scheme = by_identifier.get(official_id)
            if scheme is not None:
                matched_by = "identifier"
                # PASSPORT, EMPLOYEE_ID and NATIONAL_ID are unique only within their issuer:
                # corroborated by names they are decisive, alone they call for a review.
                decisive = scheme in UNIQUE_PERSON_SCHEMES or result.score >= review
                band = "high" if decisive else "review"
            else:
                matched_by = "name_and_birth_date"
                band = band_for(result.score, high, review)
                if band == "none":
                    continue
            features["identifier_match"] = scheme
            features[IDENTIFIER_DOB_CONFLICT] = IDENTIFIER_DOB_CONFLICT in q.warnings
            held = listings.get(official_id) or []
            listing = held[0] if held else None
            decision = decisions.get((q.identity_key, official_id))
            matches.append(
                Match(
                    official_id=official_id,
                    score=result.score,
                    band=band,
                    verdict=contribution(
                        band=band, matched_by=matched_by, listing=listing, decision=decision
                    ),
                    matched_by=matched_by,
                    features=features,
                    candidate=candidate,
                    listing=listing,
                    previous_decision=decision,
                )
            )
        matches.sort(key=lambda m: (m.matched_by != "identifier", -m.score, str(m.official_id)))
        for rank, match in enumerate(matches, start=1):
            match.rank = rank
        found.append(_Found(matches, truncated))
    return found


# --- persisting and auditing -----------------------------------------------------------------


def _build(
    *,
    actor: Principal,
    q: _Query,
    found: _Found,
    purpose: str | None,
    batch_id: uuid.UUID | None,
    now: dt.datetime,
) -> tuple[Screening, list[ScreeningMatch]]:
    screening = Screening(
        id=new_id(),
        requested_by=actor.user_id,
        agency_id=actor.agency_id,
        country=actor.country,
        given_names=q.data.given_names,
        first_surname=q.data.first_surname,
        second_surname=q.data.second_surname or None,
        date_of_birth=q.data.date_of_birth,
        identifier_indexes=[index for _scheme, index in q.identifiers],
        identity_key=q.identity_key,
        verdict=found.verdict,
        top_score=max((m.score for m in found.matches), default=None),
        purpose=purpose,
        batch_id=batch_id,
        created_at=now,
    )
    rows = [
        ScreeningMatch(
            screening_id=screening.id,
            official_id=m.official_id,
            rank=m.rank,
            score=m.score,
            band=m.band,
            features={**m.features, MATCHED_BY: m.matched_by, CONTRIBUTES: m.verdict},
            listing_id=m.listing.listing_id if m.listing else None,
        )
        for m in found.matches
    ]
    return screening, rows


def _counts(matches: Sequence[Match]) -> dict[str, int]:
    verdicts = Counter(m.verdict for m in matches)
    return {
        "candidates": len(matches),
        "listed": verdicts["listed"],
        "review": verdicts["review"],
        "ruled_out": sum(
            1
            for m in matches
            if m.previous_decision and m.previous_decision.decision == NOT_SAME_PERSON
        ),
    }


def _audit_details(q: _Query, found: _Found, screening: Screening) -> dict[str, Any]:
    """Verdict and counts; never names, dates of birth, identifiers or their indexes (R12)."""
    return {
        "verdict": screening.verdict,
        "purpose": screening.purpose,
        "top_score": screening.top_score,
        **_counts(found.matches),
        "candidates_truncated": found.truncated,
        "identifier_schemes": sorted({scheme for scheme, _index in q.identifiers}),
        "warnings": list(q.warnings),
        "watch": q.data.watch,
    }


def _leave_watch(
    session: Session, *, screening: Screening, actor: Principal, now: dt.datetime
) -> uuid.UUID:
    """R12b, delegated to the watches service (imported late: it is a separate module)."""
    try:
        from app.services.screening.watches import create_watch
    except ImportError as exc:  # pragma: no cover - only while watches are not deployed
        raise ServiceUnavailable("Watches are not available", code="WATCHES_UNAVAILABLE") from exc
    watch = create_watch(session, screening=screening, actor=actor, now=now)
    watch_id: uuid.UUID = watch.id
    return watch_id


def screen(
    session: Session,
    *,
    actor: Principal,
    settings: Settings,
    data: ScreeningInput,
    now: dt.datetime,
) -> ScreeningResult:
    """Screen one identity against the registry (R11), keep the screening with its candidate
    matches, leave a watch if asked (R12b) and audit the verdict and counts (R12)."""
    q = _query(settings, data, today=now.date(), at="")
    found = _match_all(session, settings, [q], country=actor.country)[0]
    screening, rows = _build(
        actor=actor, q=q, found=found, purpose=data.purpose, batch_id=None, now=now
    )
    session.add(screening)
    session.add_all(rows)
    session.flush()
    watch_id = (
        _leave_watch(session, screening=screening, actor=actor, now=now) if data.watch else None
    )
    audit.record(
        session,
        actor=actor,
        action="screening.create",
        resource_type="screening",
        resource_id=screening.id,
        details={**_audit_details(q, found, screening), "watch_id": watch_id},
        now=now,
    )
    return ScreeningResult(
        screening, found.matches, list(q.warnings), found.truncated, [], watch_id
    )


def screen_batch(
    session: Session,
    *,
    actor: Principal,
    settings: Settings,
    items: Sequence[ScreeningInput | AppError],
    now: dt.datetime,
) -> tuple[uuid.UUID, list[ScreeningResult | AppError]]:
    """Screen up to ``screening_batch_max_items`` identities in one go (R11). Each item gets
    its answer in order: its screening, or the error that refused it, without failing the
    others. The statements do not grow with the batch (a few chunked ``IN`` lookups); the
    batch is audited once, naming every screening with its verdict (R12)."""
    limit = settings.screening_batch_max_items
    if len(items) > limit:
        raise FieldError("items", f"at most {limit} items", "BATCH_TOO_LARGE")
    batch_id = new_id()
    answers: dict[int, ScreeningResult | AppError] = {}
    queries: list[tuple[int, _Query]] = []
    for i, item in enumerate(items):
        if isinstance(item, AppError):
            answers[i] = item
            continue
        try:
            queries.append((i, _query(settings, item, today=now.date(), at=f"items.{i}.")))
        except AppError as exc:
            answers[i] = exc
    found = _match_all(session, settings, [q for _i, q in queries], country=actor.country)
    built: list[tuple[int, _Query, _Found, Screening]] = []
    for (i, q), f in zip(queries, found, strict=True):
        screening, rows = _build(
            actor=actor, q=q, found=f, purpose=q.data.purpose, batch_id=batch_id, now=now
        )
        session.add(screening)
        session.add_all(rows)
        built.append((i, q, f, screening))
    session.flush()
    for i, q, f, screening in built:
        watch_id = (
            _leave_watch(session, screening=screening, actor=actor, now=now)
            if q.data.watch
            else None
        )
        answers[i] = ScreeningResult(
            screening, f.matches, list(q.warnings), f.truncated, [], watch_id
        )
    verdicts = Counter(s.verdict for _i, _q, _f, s in built)
    audit.record(
        session,
        actor=actor,
        action="screening.batch",
        resource_type="screening_batch",
        resource_id=batch_id,
        details={
            "items": len(items),
            "errors": len(items) - len(built),
            "clear": verdicts["clear"],
            "review": verdicts["review"],
            "listed": verdicts["listed"],
            # Who was screened is named by screening id only (R12: no names or identifiers).
            "screenings": [[str(s.id), s.verdict] for _i, _q, _f, s in built],
        },
        now=now,
    )
    return batch_id, [answers[i] for i in range(len(items))]


# --- reading and deciding ----------------------------------------------------------------------


def scoped_screening(session: Session, actor: Principal, screening_id: uuid.UUID) -> Screening:
    """A screening is read and decided on by its own agency or its country's admin; anyone
    else gets 404 (R24: existence does not leak)."""
    screening = session.get(Screening, screening_id)
    if screening is None or screening.country != actor.country:
        raise NotFound("No such screening", code="SCREENING_NOT_FOUND")
    if not actor.has(Role.ADMIN) and actor.agency_id != screening.agency_id:
        raise NotFound("No such screening", code="SCREENING_NOT_FOUND")
    return screening


def get_screening(
    session: Session, *, actor: Principal, screening_id: uuid.UUID
) -> ScreeningResult:
    """A kept screening with its matches as scored then; listings show their status now, and
    decisions recorded on it are listed (R12a)."""
    screening = scoped_screening(session, actor, screening_id)
    rows = list(
        session.scalars(
            select(ScreeningMatch)
            .where(ScreeningMatch.screening_id == screening.id)
            .order_by(ScreeningMatch.rank)
        )
    )
    candidates, listings = candidate_facts(session, [r.official_id for r in rows])
    by_listing = {x.listing_id: x for found in listings.values() for x in found}
    earlier = _latest_decisions(
        session,
        [screening.identity_key],
        country=screening.country,
        before=(screening.created_at, screening.id),
    )
    matches = []
    for r in rows:
        features = dict(r.features)
        matched_by = str(features.pop(MATCHED_BY, "name_and_birth_date"))
        verdict = features.pop(CONTRIBUTES, "clear")
        matches.append(
            Match(
                official_id=r.official_id,
                score=r.score,
                band=r.band,
                verdict=verdict if verdict in ("clear", "review", "listed") else "clear",
                matched_by=matched_by,
                features=features,
                candidate=candidates[r.official_id],
                listing=by_listing.get(r.listing_id) if r.listing_id else None,
                previous_decision=earlier.get((screening.identity_key, r.official_id)),
                rank=r.rank,
            )
        )
    decisions = list(
        session.scalars(
            select(ScreeningDecision)
            .where(ScreeningDecision.screening_id == screening.id)
            .order_by(ScreeningDecision.created_at, ScreeningDecision.id)
        )
    )
    watch_id = session.scalar(select(Watch.id).where(Watch.screening_id == screening.id))
    return ScreeningResult(screening, matches, [], False, decisions, watch_id)


def record_decision(
    session: Session,
    *,
    actor: Principal,
    screening_id: uuid.UUID,
    official_id: uuid.UUID,
    decision: str,
    reasons: str,
    now: dt.datetime,
) -> ScreeningDecision:
    """A reviewer rules on one candidate of a screening (R12a). Later screenings of the same
    identity in this country show the ruling beside the candidate; ``not_same_person`` keeps the
    candidate from raising ``review`` or ``listed`` again for that identity (an identifier match
    excepted), ``same_person`` makes a blocking listing decide ``listed``. The latest ruling
    counts; earlier ones stay. Audited without the reasons' text (R12)."""
    screening = scoped_screening(session, actor, screening_id)
    if session.get(ScreeningMatch, (screening.id, official_id)) is None:
        raise FieldError("official_id", "not a candidate of this screening", "NOT_A_CANDIDATE")
    row = ScreeningDecision(
        screening_id=screening.id,
        official_id=official_id,
        identity_key=screening.identity_key,
        decision=decision,
        reasons=reasons,
        decided_by=actor.user_id,
        agency_id=actor.agency_id,
        country=actor.country,
        created_at=now,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="screening.decision",
        resource_type="screening",
        resource_id=screening.id,
        details={
            "decision_id": row.id,
            "official_id": official_id,
            "decision": decision,
            "reasons_length": len(reasons),
        },
        now=now,
    )
    return row


# --- the appointment gate (R3) ---------------------------------------------------------------


@dataclass
class GateScreening:
    """The screening the appointment gate makes of an official's own identity against the
    listings of *other* official records (a listed person registered twice, or under a
    slightly different name). Kept only when it does not come out clear."""

    actor: Principal
    query: _Query
    found: _Found
    now: dt.datetime
    screening_id: uuid.UUID = field(default_factory=new_id)

    @property
    def verdict(self) -> Verdict:
        return self.found.verdict

    def confirmed_listings(self) -> list[ListingFacts]:
        """Blocking listings of candidates a reviewer confirmed as the same person."""
        return [
            m.listing
            for m in self.found.matches
            if m.listing is not None
            and m.listing.blocking
            and m.previous_decision is not None
            and m.previous_decision.decision == SAME_PERSON
        ]

    def candidates(self, viewer_country: str | None = None) -> list[dict[str, Any]]:
        """Verdict-level facts of the open candidates, for the 409 answer (R9). A candidate of
        another country than ``viewer_country`` is not named by its record's id (R24)."""
        out: list[dict[str, Any]] = []
        for m in self.found.matches:
            if m.verdict == "clear":
                continue
            facts: dict[str, Any] = {}
            if viewer_country is None or m.candidate.country == viewer_country:
                facts["official_id"] = str(m.official_id)
            facts.update(
                {
                    "country": m.candidate.country,
                    "score": m.score,
                    "band": m.band,
                    "verdict": m.verdict,
                    "matched_by": m.matched_by,
                    "basis": m.listing.basis if m.listing else None,
                    "listing_status": m.listing.status if m.listing else None,
                    "listed_by": str(m.listing.listed_by) if m.listing else None,
                }
            )
            out.append(facts)
        return out

    @property
    def ruled_out(self) -> int:
        return _counts(self.found.matches)["ruled_out"]

    def identifier_listed(self) -> list[Match]:
        """Candidates holding one of the submitted identifiers and a blocking listing: the
        person already has a record, and it is listed (R11)."""
        return [
            m
            for m in self.found.matches
            if m.matched_by == "identifier" and m.listing is not None and m.listing.blocking
        ]

    def decisive(self) -> list[Match]:
        """Candidates whose blocking listing decides ``listed``: an identifier, a score in the
        high band, or a reviewer's ``same_person`` ruling (R11, R12a)."""
        return [
            m
            for m in self.found.matches
            if m.verdict == "listed" and m.listing is not None and m.listing.blocking
        ]

    def records(self, batch_id: uuid.UUID | None) -> tuple[Screening, list[ScreeningMatch]]:
        """The screening and its match rows, under the id the refusal already named."""
        screening, rows = _build(
            actor=self.actor,
            q=self.query,
            found=self.found,
            purpose=GATE_PURPOSE,
            batch_id=batch_id,
            now=self.now,
        )
        screening.id = self.screening_id
        for row in rows:
            row.screening_id = self.screening_id
        return screening, rows

    def _write(self, session: Session) -> None:
        screening, rows = self.records(None)
        session.add(screening)
        session.flush()
        session.add_all(rows)
        session.flush()
        audit.record(
            session,
            actor=self.actor,
            action="screening.create",
            resource_type="screening",
            resource_id=screening.id,
            details=_audit_details(self.query, self.found, screening),
            now=self.now,
        )

    def keep(self, session: Session) -> None:
        """Keep the screening in the caller's transaction (the gate was forced)."""
        self._write(session)

    def keep_after_transaction(self, session: Session) -> None:
        """Keep the screening even though the caller's transaction is about to roll back (the
        gate refuses with 409): the reviewer must find it to rule on its candidates. It is
        written in a unit of work of its own once the caller's transaction has ended, so it
        never waits on the caller's locks."""
        factory: sessionmaker[Session] = session.info.get("factory") or sessionmaker(
            bind=session.get_bind(), expire_on_commit=False
        )

        def write() -> None:
            with unit_of_work(factory) as own:
                self._write(own)

        after_transaction(session, write)

    def record_clear(self, session: Session, official_id: uuid.UUID) -> None:
        audit.record(
            session,
            actor=self.actor,
            action="screening.gate",
            resource_type="official",
            resource_id=official_id,
            details={"verdict": self.verdict, **_counts(self.found.matches)},
            now=self.now,
        )


def gate_screening(
    session: Session,
    *,
    actor: Principal,
    settings: Settings,
    official: Official,
    now: dt.datetime,
) -> GateScreening:
    """Screen an official's identity against the other officials' listings (R3 via R11).
    Decisions recorded for this identity apply as in any screening (R12a): a candidate ruled
    ``not_same_person`` no longer stops the appointment."""
    data = ScreeningInput(
        given_names=official.given_names,
        first_surname=official.first_surname,
        second_surname=official.second_surname,
        date_of_birth=official.date_of_birth,
        purpose=GATE_PURPOSE,
    )
    q = _query(settings, data, today=dt.date.max, at="")
    found = _match_all(
        session, settings, [q], country=actor.country, exclude=frozenset({official.id})
    )[0]
    return GateScreening(actor=actor, query=q, found=found, now=now)


@dataclass(frozen=True)
class RegistrationIdentity:
    """An identity about to be registered, already validated (R1): its identifiers as
    (scheme, blind index) and, when known, its blocking keys (imports compute them anyway)."""

    given_names: str
    first_surname: str
    second_surname: str | None
    date_of_birth: dt.date
    identifiers: tuple[tuple[str, str], ...] = ()
    keys: tuple[str, ...] | None = None


def _registration_query(settings: Settings, item: RegistrationIdentity) -> _Query:
    """A ``_Query`` for an identity whose identifiers were validated at registration: no second
    validation, only the normalised names for scoring and the identity key for rulings."""
    identity = Identity(
        given_names=item.given_names,
        first_surname=item.first_surname,
        second_surname=item.second_surname or None,
        date_of_birth=item.date_of_birth,
    )
    prepared = prepare(identity)
    keys = item.keys if item.keys is not None else tuple(sorted(set(blocking_keys(prepared))))
    return _Query(
        data=ScreeningInput(
            given_names=item.given_names,
            first_surname=item.first_surname,
            second_surname=item.second_surname,
            date_of_birth=item.date_of_birth,
            purpose=GATE_PURPOSE,
        ),
        prepared=prepared,
        keys=keys,
        identifiers=item.identifiers,
        warnings=(),
        identity_key=identity_key_of(
            settings,
            given_names=item.given_names,
            first_surname=item.first_surname,
            second_surname=item.second_surname,
            date_of_birth=item.date_of_birth,
        ),
    )


def gate_registration(
    session: Session,
    *,
    actor: Principal,
    settings: Settings,
    item: RegistrationIdentity,
    now: dt.datetime,
) -> GateScreening:
    """Screen an identity about to be registered with a first appointment (R3 via R11): its
    identifiers and its names and date of birth against the listings of both countries;
    rulings recorded for the identity apply (R12a). Nothing is written here."""
    q = _registration_query(settings, item)
    found = _match_all(session, settings, [q], country=actor.country)[0]
    return GateScreening(actor=actor, query=q, found=found, now=now)


def screen_registrations(
    session: Session,
    *,
    actor: Principal,
    settings: Settings,
    items: Sequence[RegistrationIdentity],
    now: dt.datetime,
) -> list[GateScreening]:
    """``gate_registration`` of every item, with a constant number of statements: for a caller
    that has already kept only the items sharing a blocking key or an identifier with some
    listed official (bulk imports look those up with the batch's own duplicate checks)."""
    if not items:
        return []
    queries = [_registration_query(settings, item) for item in items]
    found = _match_all(session, settings, queries, country=actor.country)
    return [
        GateScreening(actor=actor, query=q, found=f, now=now)
        for q, f in zip(queries, found, strict=True)
    ]


GATE_AUDIT_CHUNK: Final = 500
"""Screenings named by one ``screening.batch`` event of ``keep_gate_batch``."""


def keep_gate_batch(session: Session, gates: Sequence[GateScreening], *, now: dt.datetime) -> None:
    """Keep many refused gate screenings in the caller's transaction at once (a bulk import's
    batch, R3, R12a): their rows in two multi-row INSERTs, and one ``screening.batch`` audit
    event per ``GATE_AUDIT_CHUNK`` screenings naming each by id with its verdict, as
    ``screen_batch`` audits (R12: no names or identifiers), instead of one event each."""
    if not gates:
        return
    for start in range(0, len(gates), GATE_AUDIT_CHUNK):
        chunk = gates[start : start + GATE_AUDIT_CHUNK]
        batch_id = new_id()
        screenings: list[Screening] = []
        matches: list[ScreeningMatch] = []
        for gate in chunk:
            screening, rows = gate.records(batch_id)
            screenings.append(screening)
            matches.extend(rows)
        session.add_all(screenings)
        session.flush()
        session.add_all(matches)
        session.flush()
        verdicts = Counter(s.verdict for s in screenings)
        audit.record(
            session,
            actor=chunk[0].actor,
            action="screening.batch",
            resource_type="screening_batch",
            resource_id=batch_id,
            details={
                "items": len(chunk),
                "errors": 0,
                "purpose": GATE_PURPOSE,
                "clear": verdicts["clear"],
                "review": verdicts["review"],
                "listed": verdicts["listed"],
                "screenings": [[str(s.id), s.verdict] for s in screenings],
            },
            now=now,
        )
