"""Reference agencies of both countries (``app/data/agencies.json``), loaded idempotently.

The data is JSON, not Python, so it can be reviewed and corrected without touching code. Each
entry has a stable ``key`` (``MX-SSPC``) and names its parent by key; parents come first. An
entry is matched to the database on country + acronym (case-insensitive): a re-run, or an
agency an admin already created, adds nothing, and existing rows are never overwritten (an
admin's corrections win over the reference file).

``commission_department`` (R20) designates the U.S. departments of the override commission
(DOJ, DHS, STATE). It is set when the seed inserts the agency, and only where no other agency
already holds it; existing databases got theirs from migration 0008.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from app.domain.access import Country
from app.models import Agency
from app.schemas.agency import Acronym, AgencyLevel, AgencyName, Contact, Region, Sector
from app.services.audit import audit
from app.services.registry.agencies import (
    COMMISSION_COUNTRY,
    REGIONS,
    designated_departments,
    find_by_acronym,
    lock_acronym,
)


class SeedAgency(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(pattern=r"^(MX|US)-[A-Z0-9-]+$")
    country: Country
    name: AgencyName
    acronym: Acronym
    level: AgencyLevel
    sector: Sector
    parent: str | None = None
    region: Region | None = None
    can_vet: bool = False
    contact: Contact | None = None
    commission_department: str | None = Field(default=None, pattern=r"^[A-Z]{2,16}$")
    note: str | None = None


class SeedFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str = ""
    agencies: list[SeedAgency]


def load_seed(path: Path | None = None) -> list[SeedAgency]:
    """Read and check the reference file: unique keys and acronyms, parents listed before their
    children and of the same country, region codes of the entry's country, commission
    departments only on U.S. federal entries without a parent, each once (R20)."""
    if path is None:
        raw = resources.files("app").joinpath("data/agencies.json").read_text(encoding="utf-8")
    else:
        raw = path.read_text(encoding="utf-8")
    entries = SeedFile.model_validate(json.loads(raw)).agencies
    by_key: dict[str, SeedAgency] = {}
    acronyms: set[tuple[str, str]] = set()
    departments: set[str] = set()
    for entry in entries:
        if entry.key in by_key:
            raise ValueError(f"duplicate seed key {entry.key}")
        ident = (entry.country.value, entry.acronym.upper())
        if ident in acronyms:
            raise ValueError(f"duplicate acronym {entry.acronym} in {entry.country}")
        if entry.parent is not None:
            parent = by_key.get(entry.parent)
            if parent is None:
                raise ValueError(f"{entry.key}: parent {entry.parent} must be listed before it")
            if parent.country != entry.country:
                raise ValueError(f"{entry.key}: parent {entry.parent} is of another country")
        if entry.region is not None and entry.region not in REGIONS[entry.country.value]:
            raise ValueError(f"{entry.key}: region {entry.region} is not of {entry.country}")
        if entry.commission_department is not None:
            if (
                entry.country.value != COMMISSION_COUNTRY
                or entry.level is not AgencyLevel.FEDERAL
                or entry.parent is not None
            ):
                raise ValueError(
                    f"{entry.key}: only a U.S. federal agency without a parent is a commission "
                    "department"
                )
            if entry.commission_department in departments:
                raise ValueError(f"duplicate commission department {entry.commission_department}")
            departments.add(entry.commission_department)
        by_key[entry.key] = entry
        acronyms.add(ident)
    return entries


def seed_agencies(session: Session, *, now: dt.datetime, path: Path | None = None) -> int:
    """Insert the reference agencies that are missing; returns how many were inserted. Each
    insertion is audited as ``agency.seed`` by ``system`` (R22). Flushes, does not commit."""
    ids: dict[str, uuid.UUID] = {}
    inserted = 0
    held = set(designated_departments(session))
    for entry in load_seed(path):
        country = entry.country.value
        lock_acronym(session, country=country, acronym=entry.acronym)
        existing = find_by_acronym(session, country=country, acronym=entry.acronym)
        if existing is not None:
            ids[entry.key] = existing.id
            continue
        agency = Agency(
            country=country,
            name=entry.name,
            acronym=entry.acronym,
            level=entry.level.value,
            sector=entry.sector.value,
            parent_id=ids[entry.parent] if entry.parent else None,
            region=entry.region,
            can_vet=entry.can_vet,
            contact=entry.contact,
            # An admin's designation of another agency wins, as its other corrections do.
            commission_department=(
                entry.commission_department if entry.commission_department not in held else None
            ),
            created_at=now,
        )
        session.add(agency)
        session.flush()
        ids[entry.key] = agency.id
        inserted += 1
        details: dict[str, Any] = {
            "key": entry.key,
            "country": country,
            "acronym": entry.acronym,
            "parent_id": agency.parent_id,
            "can_vet": entry.can_vet,
        }
        if agency.commission_department is not None:
            held.add(agency.commission_department)
            details["commission_department"] = agency.commission_department
        audit.record(
            session,
            actor=None,
            actor_username="system",
            action="agency.seed",
            resource_type="agency",
            resource_id=agency.id,
            details=details,
            now=now,
        )
    return inserted
