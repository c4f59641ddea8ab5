from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, ConfigDict, Field

from app.domain.access import Country, Role
from app.schemas.common import StrictModel

Username = Field(min_length=3, max_length=80, pattern=r"^[A-Za-z0-9_.@-]+$")


class UserCreate(StrictModel):
    username: str = Username
    password: str = Field(min_length=12, max_length=256)
    roles: list[Role] = Field(min_length=1, max_length=6)
    country: Country
    agency_id: uuid.UUID | None = None
    official_id: uuid.UUID | None = None


class UserUpdate(StrictModel):
    roles: list[Role] | None = Field(default=None, min_length=1, max_length=6)
    agency_id: uuid.UUID | None = None
    official_id: uuid.UUID | None = Field(
        default=None, description="Link the account to the person's official record (R13)"
    )
    is_active: bool | None = None


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    username: str
    roles: list[str]
    country: str
    agency_id: uuid.UUID | None
    official_id: uuid.UUID | None = None
    is_active: bool
    created_at: dt.datetime


class Me(UserRead):
    via: str


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


class ApiKeyCreate(StrictModel):
    name: str = Field(min_length=1, max_length=120)
    user_id: uuid.UUID | None = Field(
        default=None, description="Admins may create a key for a user of their own country"
    )


class ApiKeyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    user_id: uuid.UUID
    name: str
    prefix: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None


class ApiKeyCreated(ApiKeyRead):
    key: str = Field(description="Shown once; only a hash is stored")
