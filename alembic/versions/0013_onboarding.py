"""Onboarding: organisation kind/status/monthly SMS cap, the one-time setup
link, and an index for usage per organisation and month.

Revision ID: 0013_onboarding
Revises: 0008_pause_reason
"""

from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0013_onboarding"
down_revision: Union[str, None] = "0008_pause_reason"
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


def downgrade() -> None:
    op.drop_index("ix_attempt_org_accepted", table_name="sendattempt")
    op.drop_index("ix_setuptoken_token_hash", table_name="setuptoken")
    op.drop_table("setuptoken")
    with op.batch_alter_table("organisation") as batch:
        batch.drop_column("monthly_sms_cap")
        batch.drop_column("status_changed_at")
        batch.drop_column("status")
        batch.drop_column("kind")
