"""official_name_keys: one index, the primary key led by key

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 04:10:00.000000

The primary key was (official_id, key) with a second index on key. Screening looks rows up by
key only, and nothing reads them by official alone (keys are written with their official and
never changed), so the primary key now leads with key and the second index goes: every key row
is one index entry instead of two, and the screening lookup reads official_id from the index.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("official_name_keys", schema=None) as batch_op:
        batch_op.drop_index("ix_official_name_keys_key")
        batch_op.drop_constraint("pk_official_name_keys", type_="primary")
        batch_op.create_primary_key("pk_official_name_keys", ["key", "official_id"])


def downgrade() -> None:
    with op.batch_alter_table("official_name_keys", schema=None) as batch_op:
        batch_op.drop_constraint("pk_official_name_keys", type_="primary")
        batch_op.create_primary_key("pk_official_name_keys", ["official_id", "key"])
        batch_op.create_index("ix_official_name_keys_key", ["key"], unique=False)
