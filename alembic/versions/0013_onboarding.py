"""Onboarding: organisation kind/status/monthly SMS cap, the one-time setup
link, self-service sign-up applications, and an index for usage per
organisation and month.

Revision ID: 0013_onboarding
Revises: 0008_pause_reason
"""

from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0013_onboarding"
down_revision: Union[str, None] = "0011_campaign_lifecycle"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("organisation") as batch:
        batch.add_column(sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(), nullable=False, server_default="business"))
        batch.add_column(sa.Column("status", sqlmodel.sql.sqltypes.AutoString(), nullable=False, server_default="active"))
        batch.add_column(sa.Column("status_changed_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("monthly_sms_cap", sa.Integer(), nullable=False, server_default="0"))
    op.create_table(
        "setuptoken",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_setuptoken_token_hash", "setuptoken", ["token_hash"], unique=True)
    op.create_index("ix_attempt_org_accepted", "sendattempt", ["organisation_id", "accepted_at"])
    op.create_table(
        "signupapplication",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("business_name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("contact_name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("phone", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=True),
        sa.Column("decided_by_user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisation.id"]),
        sa.ForeignKeyConstraint(["decided_by_user_id"], ["user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_signupapplication_email", "signupapplication", ["email"])


def downgrade() -> None:
    op.drop_index("ix_signupapplication_email", table_name="signupapplication")
    op.drop_table("signupapplication")
    op.drop_index("ix_attempt_org_accepted", table_name="sendattempt")
    op.drop_index("ix_setuptoken_token_hash", table_name="setuptoken")
    op.drop_table("setuptoken")
    with op.batch_alter_table("organisation") as batch:
        batch.drop_column("monthly_sms_cap")
        batch.drop_column("status_changed_at")
        batch.drop_column("status")
        batch.drop_column("kind")
