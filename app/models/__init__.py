"""Every ORM model, imported once here; Alembic's env.py imports this module."""

from app.models.agency import Agency
from app.models.audit import AuditCheckpoint, AuditEvent, AuditHead, AuditLink, AuditPending
from app.models.base import Base
from app.models.evaluation import Evaluation
from app.models.listing import Appeal, Listing, ListingEvent
from app.models.official import (
    Appointment,
    Official,
    OfficialIdentifier,
    OfficialNameKey,
    Separation,
)
from app.models.ops import IdempotencyRecord, LoginThrottle
from app.models.user import ApiKey, User

__all__ = [
    "Agency",
    "ApiKey",
    "Appeal",
    "Appointment",
    "AuditCheckpoint",
    "AuditEvent",
    "AuditHead",
    "AuditLink",
    "AuditPending",
    "Base",
    "Evaluation",
    "IdempotencyRecord",
    "Listing",
    "ListingEvent",
    "LoginThrottle",
    "Official",
    "OfficialIdentifier",
    "OfficialNameKey",
    "Separation",
    "User",
]
