"""Wrong passwords counted in the database (per address and account, and per
address), so the sign-in back-off survives a restart (issue 18).

Revision ID: 0012_sign_in_failures
Revises: 0008_pause_reason
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision: str = "0012_sign_in_failures"
down_revision: str | None = "0013_onboarding"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "signinfailure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key_hash", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_signinfailure_key_hash"), "signinfailure", ["key_hash"], unique=False)
    op.create_index(op.f("ix_signinfailure_at"), "signinfailure", ["at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_signinfailure_at"), table_name="signinfailure")
    op.drop_index(op.f("ix_signinfailure_key_hash"), table_name="signinfailure")
    op.drop_table("signinfailure")
