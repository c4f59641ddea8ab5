"""Agency request and response shapes (DESIGN §3 Agency, §5).

``AgencyLevel`` and ``Sector`` live here so other resources (policies scoped by sector, coverage
statistics) import one definition.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from app.domain.access import Country
from app.schemas.common import StrictModel

if TYPE_CHECKING:
    from app.models import Agency


class AgencyLevel(enum.StrEnum):
    FEDERAL = "federal"
    STATE = "state"
    MUNICIPAL = "municipal"


class Sector(enum.StrEnum):
    LAW_ENFORCEMENT = "law_enforcement"
    JUSTICE = "justice"
    INTELLIGENCE = "intelligence"
    MILITARY = "military"
    CORRECTIONS = "corrections"
    MIGRATION = "migration"
    CUSTOMS = "customs"
    POLICY = "policy"


# No control characters: PostgreSQL refuses NUL in text, and none belongs in a name anyway.
NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"
AgencyName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=2, max_length=200, pattern=NO_CONTROL),
]
Acronym = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=2, max_length=40, pattern=r"^[A-Za-z0-9][A-Za-z0-9&.\-]*$"
    ),
]
# ISO 3166-2 subdivision code without the country prefix ("JAL" for MX-JAL, "TX" for US-TX).
# The service checks it against the agency's country (country is not known on update).
Region = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z]{2,3}$"),
]
Contact = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=3, max_length=200, pattern=NO_CONTROL),
]
# R20: a department of the override commission; the service checks it against the configured
# set (REGISTRY_OVERRIDE_DEPARTMENTS, default DOJ, DHS, STATE), so the schema cannot list it.
CommissionDepartment = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z]{2,16}$"),
]

_REGION_DOC = "ISO 3166-2 subdivision code without the country prefix, e.g. `JAL`, `NLE`, `TX`"
_CONTACT_DOC = "Public contact point shown beside this agency's listings (R9): office, mail or URL"
_COMMISSION_DOC = (
    "The override-commission department this agency is (R20): one of the configured required "
    "departments (default `DOJ`, `DHS`, `STATE`). Only a U.S. admin sets it, only on a U.S. "
    "federal agency without a parent, and one agency per department. Commission members of "
    "this agency and of every agency below it approve overrides for this department."
)


class AgencyCreate(StrictModel):
    country: Country
    name: AgencyName
    acronym: Acronym = Field(description="Unique within the country (case-insensitive)")
    level: AgencyLevel
    sector: Sector
    parent_id: uuid.UUID | None = Field(
        default=None, description="Parent agency of the same country (DEA and FBI sit under DOJ)"
    )
    region: Region | None = Field(default=None, description=_REGION_DOC)
    can_vet: bool = Field(default=False, description="It is a vetting body")
    contact: Contact | None = Field(default=None, description=_CONTACT_DOC)
    commission_department: CommissionDepartment | None = Field(
        default=None, description=_COMMISSION_DOC
    )


class AgencyUpdate(StrictModel):
    """Every field optional; ``country`` is immutable (sending it is a validation error).
    ``parent_id``, ``region``, ``contact`` and ``commission_department`` may be set to null;
    the others may not."""

    name: AgencyName | None = None
    acronym: Acronym | None = None
    level: AgencyLevel | None = None
    sector: Sector | None = None
    parent_id: uuid.UUID | None = None
    region: Region | None = Field(default=None, description=_REGION_DOC)
    can_vet: bool | None = None
    contact: Contact | None = Field(default=None, description=_CONTACT_DOC)
    commission_department: CommissionDepartment | None = Field(
        default=None, description=_COMMISSION_DOC
    )

    @field_validator("name", "acronym", "level", "sector", "can_vet")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # Validators run only on fields that were sent, so None here is an explicit null.
        if value is None:
            raise ValueError("may be omitted but not null")
        return value


class AgencyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    country: Country
    name: str
    acronym: str
    level: AgencyLevel
    sector: Sector
    parent_id: uuid.UUID | None
    region: str | None
    can_vet: bool
    contact: str | None
    commission_department: str | None = Field(
        description="The override-commission department this agency is (R20), if any"
    )
    department_id: uuid.UUID = Field(
        description="Top ancestor; an agency without a parent is its own department"
    )
    department_acronym: str
    department_name: str
    created_at: dt.datetime

    @classmethod
    def of(cls, agency: Agency, department: Agency) -> AgencyRead:
        return cls(
            id=agency.id,
            country=Country(agency.country),
            name=agency.name,
            acronym=agency.acronym,
            level=AgencyLevel(agency.level),
            sector=Sector(agency.sector),
            parent_id=agency.parent_id,
            region=agency.region,
            can_vet=agency.can_vet,
            contact=agency.contact,
            commission_department=agency.commission_department,
            department_id=department.id,
            department_acronym=department.acronym,
            department_name=department.name,
            created_at=agency.created_at,
        )
