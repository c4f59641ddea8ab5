"""agencies.commission_department: explicit override-commission seats (R20, #15, #18 F1)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 09:00:00.000000

An override approver's department used to be the acronym of the top agency above them, in
any country: a Mexican agency named "DOJ" filled a U.S. seat. The department is now an
explicit designation on the agency, one agency per department (unique index; NULLs distinct).

Data: an existing database gets the designation where the reference seed
(``app/data/agencies.json``) would have put it, on the U.S. top-level federal agencies whose
acronym is DOJ, DHS or STATE. Nothing of another country, and no agency with a parent, is
designated. Anything else is left for a U.S. admin (``PATCH /agencies/{id}``); ``/readyz``
names a department that still has no agency.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEEDED_DEPARTMENTS = ("DOJ", "DHS", "STATE")


def upgrade() -> None:
    with op.batch_alter_table("agencies", schema=None) as batch_op:
        batch_op.add_column(sa.Column("commission_department", sa.String(length=16), nullable=True))
    op.create_index(
        "uq_agencies_commission_department", "agencies", ["commission_department"], unique=True
    )
    agencies = sa.table(
        "agencies",
        sa.column("country", sa.String),
        sa.column("acronym", sa.String),
        sa.column("level", sa.String),
        sa.column("parent_id", sa.Uuid),
        sa.column("commission_department", sa.String),
    )
    bind = op.get_bind()
    for department in SEEDED_DEPARTMENTS:
        # Acronyms are unique per country case-insensitively (the service refuses a second
        # one), so at most one row matches each department.
        bind.execute(
            agencies.update()
            .where(
                agencies.c.country == "US",
                agencies.c.level == "federal",
                agencies.c.parent_id.is_(None),
                sa.func.upper(agencies.c.acronym) == department,
            )
            .values(commission_department=department)
        )


def downgrade() -> None:
    op.drop_index("uq_agencies_commission_department", table_name="agencies")
    with op.batch_alter_table("agencies", schema=None) as batch_op:
        batch_op.drop_column("commission_department")
