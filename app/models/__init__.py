"""Every ORM model, imported once here; Alembic's env.py imports this module."""

from app.models.agency import Agency
from app.models.audit import AuditCheckpoint, AuditEvent, AuditHead, AuditLink, AuditPending
from app.models.base import Base
from app.models.draw import DrawCommitment, DrawMember, RandomDraw, RandomSelection, SweepEvent
from app.models.evaluation import Evaluation
from app.models.imports import ImportJob, ImportRowError
from app.models.listing import Appeal, Listing, ListingEvent
from app.models.official import (
    Appointment,
    Official,
    OfficialIdentifier,
    OfficialNameKey,
    Separation,
)
from app.models.ops import IdempotencyRecord, LoginThrottle, RateCounter
from app.models.policy import VettingPolicy, VettingPolicyVersion
from app.models.screening import (
    Notification,
    Screening,
    ScreeningDecision,
    ScreeningMatch,
    Watch,
    Webhook,
    WebhookAttempt,
    WebhookDelivery,
)
from app.models.task_force import (
    Override,
    OverrideApproval,
    TaskForce,
    TaskForceEvent,
    TaskForceLead,
    TaskForceMember,
    TaskForceNomination,
)
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
    "DrawCommitment",
    "DrawMember",
    "Evaluation",
    "IdempotencyRecord",
    "ImportJob",
    "ImportRowError",
    "Listing",
    "ListingEvent",
    "LoginThrottle",
    "Notification",
    "Official",
    "OfficialIdentifier",
    "OfficialNameKey",
    "Override",
    "OverrideApproval",
    "RandomDraw",
    "RandomSelection",
    "RateCounter",
    "Screening",
    "ScreeningDecision",
    "ScreeningMatch",
    "Separation",
    "SweepEvent",
    "TaskForce",
    "TaskForceEvent",
    "TaskForceLead",
    "TaskForceMember",
    "TaskForceNomination",
    "User",
    "VettingPolicy",
    "VettingPolicyVersion",
    "Watch",
    "Webhook",
    "WebhookAttempt",
    "WebhookDelivery",
]
