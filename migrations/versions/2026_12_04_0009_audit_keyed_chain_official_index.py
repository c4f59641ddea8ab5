"""audit: keyed chain boundary, index on the official an event concerns (R22, R24, #19, #18)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 12:00:00.000000

Keyed chain (#19): event hashes and links become HMAC-SHA256 under the audit key
(``REGISTRY_AUDIT_KEY``), so a database role that inserts or rewrites audit rows cannot make
them verify. The rows already written keep their plain sha256 hashes and stay verifiable as
they are (the triggers refuse to rewrite them, rightly): ``audit_head`` records where the keyed
scheme begins, past every link and every event that exists now. A fresh database keys
everything (both 1). Stop every server process of the previous version before upgrading: an
event it recorded after this boundary would carry an unkeyed hash and fail verification.

Index (#15, #19): ``GET /audit?resource_id=<official>`` and the cross-border audit view select
events by the official their details name; an expression index serves exactly the expression
``services.audit_queries`` writes per dialect. ``migrations/env.py`` leaves it out of
``alembic check``, which cannot compare expression indexes across dialects.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_audit_events_details_official_id"
EXPRESSIONS = {
    "postgresql": "((details ->> 'official_id'))",
    "sqlite": "(json_extract(details, '$.official_id'))",
}


def upgrade() -> None:
    with op.batch_alter_table("audit_head", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "keyed_from_seq", sa.BigInteger(), server_default=sa.text("1"), nullable=False
            )
        )
        batch_op.add_column(
            sa.Column(
                "keyed_from_event_id", sa.BigInteger(), server_default=sa.text("1"), nullable=False
            )
        )
    # audit_head is not append-only (it is the chain's moving end), so this UPDATE is allowed.
    op.execute(
        "UPDATE audit_head SET keyed_from_seq = seq + 1, "
        "keyed_from_event_id = (SELECT COALESCE(MAX(id), 0) + 1 FROM audit_events)"
    )
    expression = EXPRESSIONS.get(op.get_bind().dialect.name)
    if expression is not None:
        op.execute(f"CREATE INDEX {INDEX} ON audit_events {expression}")


def downgrade() -> None:
    op.execute(f"DROP INDEX IF EXISTS {INDEX}")
    with op.batch_alter_table("audit_head", schema=None) as batch_op:
        batch_op.drop_column("keyed_from_event_id")
        batch_op.drop_column("keyed_from_seq")
