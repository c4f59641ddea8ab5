from __future__ import annotations

import datetime as dt
import enum
import uuid

from pydantic import BaseModel, ConfigDict, Field

from app.schemas.common import StrictModel


class Focus(enum.StrEnum):
    FENTANYL = "fentanyl"
    WEAPONS = "weapons"
    MONEY_LAUNDERING = "money_laundering"
    CORRUPTION = "corruption"
    KIDNAPPING = "kidnapping"
    EXTORTION = "extortion"
    HUMAN_TRAFFICKING = "human_trafficking"
    OTHER = "other"


class SuspendOn(enum.StrEnum):
    SENIOR_NONCOMPLIANCE = "senior_noncompliance"
    ANY_NONCOMPLIANCE = "any_noncompliance"


class MemberRole(enum.StrEnum):
    LEAD = "lead"
    SENIOR = "senior"
    MEMBER = "member"


class TaskForceCreate(StrictModel):
    name: str = Field(min_length=3, max_length=200)
    focus: Focus
    lead_agency_id: uuid.UUID
    lead_user_ids: list[uuid.UUID] = Field(default_factory=list, max_length=20)
    max_vetting_age_months: int = Field(default=12, ge=1, le=120)
    require_reciprocal: bool = True
    suspend_on: SuspendOn = SuspendOn.SENIOR_NONCOMPLIANCE


class TaskForceUpdate(StrictModel):
    name: str | None = Field(default=None, min_length=3, max_length=200)
    lead_user_ids: list[uuid.UUID] | None = Field(default=None, max_length=20)
    max_vetting_age_months: int | None = Field(default=None, ge=1, le=120)
    require_reciprocal: bool | None = None
    suspend_on: SuspendOn | None = None
    dissolved: bool | None = Field(default=None, description="true dissolves the task force")


class TaskForceRead(BaseModel):
    id: uuid.UUID
    name: str
    focus: str
    lead_agency_id: uuid.UUID
    lead_user_ids: list[uuid.UUID]
    max_vetting_age_months: int
    require_reciprocal: bool
    suspend_on: str
    status: str = Field(description="active | suspended | dissolved, derived now (R19)")
    funding_status: str = Field(description="active | suspended, follows the status (R19)")
    created_at: dt.datetime


class NominationCreate(StrictModel):
    official_id: uuid.UUID
    role: MemberRole = MemberRole.MEMBER


class NominationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    task_force_id: uuid.UUID
    official_id: uuid.UUID
    role: str
    status: str
    nominated_by: uuid.UUID
    nominated_at: dt.datetime
    closed_at: dt.datetime | None


class MemberCreate(StrictModel):
    official_id: uuid.UUID


class MemberRead(BaseModel):
    id: uuid.UUID
    official_id: uuid.UUID
    country: str
    given_names: str
    first_surname: str
    second_surname: str | None
    role: str
    joined_on: dt.date
    left_on: dt.date | None
    view: str = Field(description="full for the caller's own country, public across the border")


class MemberCompliance(BaseModel):
    official_id: uuid.UUID
    country: str
    role: str
    senior: bool
    blocking: bool = Field(
        description="Whether this member's non-compliance suspends the task force"
    )
    verdict: str
    reasons: list[str]
    valid_until: dt.date | None
    override_id: uuid.UUID | None


class ComplianceSummary(BaseModel):
    members: int
    eligible: int
    ineligible: int
    overridden: int


class ComplianceRead(BaseModel):
    task_force_id: uuid.UUID
    status: str
    funding_status: str
    as_of: dt.date
    summary: ComplianceSummary
    blocking_members: list[uuid.UUID]
    members: list[MemberCompliance]


class TaskForceEventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    task_force_id: uuid.UUID
    kind: str
    from_status: str | None
    to_status: str | None
    official_id: uuid.UUID | None
    cause: dict[str, object]
    occurred_at: dt.datetime


class OverrideCreate(StrictModel):
    task_force_id: uuid.UUID
    official_id: uuid.UUID
    justification: str = Field(min_length=20, max_length=4000)
    duration_days: int = Field(ge=1, le=90, description="At most 90 days (R20)")


class OverrideRevoke(StrictModel):
    reason: str = Field(min_length=10, max_length=4000)


class ApprovalRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    approver_id: uuid.UUID
    department: str
    counted: bool
    approved_at: dt.datetime


class OverrideRead(BaseModel):
    id: uuid.UUID
    task_force_id: uuid.UUID
    official_id: uuid.UUID
    justification: str | None = Field(
        description="Shown to the official's own country, the commission and the requester; "
        "null for anyone else (#18 F8, R24)"
    )
    duration_days: int
    requested_by: uuid.UUID
    requested_at: dt.datetime
    status: str = Field(description="pending | active | expired | revoked")
    approved_departments: list[str]
    missing_departments: list[str]
    activated_at: dt.datetime | None
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    approvals: list[ApprovalRead]
