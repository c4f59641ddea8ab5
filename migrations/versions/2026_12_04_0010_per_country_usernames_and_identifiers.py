"""per-country usernames and identifiers: no existence oracle across the border (R24, #18 F4, F5)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 18:30:00.000000

Usernames (#18 F5): ``users.username`` was unique across both countries, so ``USERNAME_TAKEN``
told an admin that the other country had a user of that name. It is now unique per country
(``uq_users_country_username``), with a plain index on the name for logins that do not say
their country (``services.accounts.auth``).

Identifiers (#18 F4): ``official_identifiers.blind_index`` was unique across both countries,
so registering a passport, employee number or national id that an unlisted official of the
other country holds answered ``IDENTIFIER_EXISTS``. Each identifier row now carries its
official's country (filled here from ``officials``) and is unique per country
(``uq_official_identifiers_country_blind_index``); ``ix_official_identifiers_blind_index``
serves the screening's lookups, which search both countries (R3, R11).

Downgrade restores the global unique constraints; it fails if the two countries now share a
username or an identifier (rename or remove one first).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint("uq_users_username", type_="unique")
        batch_op.create_unique_constraint("uq_users_country_username", ["country", "username"])
        batch_op.create_index("ix_users_username", ["username"], unique=False)

    with op.batch_alter_table("official_identifiers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("country", sa.String(length=2), nullable=True))
    op.execute(
        "UPDATE official_identifiers SET country = "
        "(SELECT officials.country FROM officials "
        "WHERE officials.id = official_identifiers.official_id)"
    )
    with op.batch_alter_table("official_identifiers", schema=None) as batch_op:
        batch_op.alter_column("country", existing_type=sa.String(length=2), nullable=False)
        batch_op.drop_constraint("uq_official_identifiers_blind_index", type_="unique")
        batch_op.create_unique_constraint(
            "uq_official_identifiers_country_blind_index", ["country", "blind_index"]
        )
        batch_op.create_index("ix_official_identifiers_blind_index", ["blind_index"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("official_identifiers", schema=None) as batch_op:
        batch_op.drop_index("ix_official_identifiers_blind_index")
        batch_op.drop_constraint("uq_official_identifiers_country_blind_index", type_="unique")
        batch_op.create_unique_constraint("uq_official_identifiers_blind_index", ["blind_index"])
        batch_op.drop_column("country")

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index("ix_users_username")
        batch_op.drop_constraint("uq_users_country_username", type_="unique")
        batch_op.create_unique_constraint("uq_users_username", ["username"])
