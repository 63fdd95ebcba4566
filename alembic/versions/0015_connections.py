"""Connections: an organisation's own SMS and payment accounts (credentials
sealed at rest), the one a campaign picks, and the SMS connection each attempt
went through.

Revision ID: 0015_connections
Revises: 0011_campaign_lifecycle
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0015_connections"
# The coordinator re-chains the branches' migrations at merge.
down_revision: str | None = "0014_console"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "connection",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("provider", sa.String(), nullable=False),
        sa.Column("label", sa.String(), nullable=False),
        sa.Column("public_id", sa.String(), nullable=False),
        sa.Column("config", sa.String(), nullable=False),
        sa.Column("secret_sealed", sa.String(), nullable=False),
        sa.Column("secret_last4", sa.String(), nullable=False),
        sa.Column("webhook_secret_sealed", sa.String(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("disabled_at", sa.DateTime(), nullable=True),
        sa.Column("created_by_user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_tested_at", sa.DateTime(), nullable=True),
        sa.Column("last_test_result", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(["created_by_user_id"], ["user.id"]),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisation.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("connection") as batch:
        batch.create_index(batch.f("ix_connection_organisation_id"), ["organisation_id"], unique=False)
        batch.create_index(batch.f("ix_connection_public_id"), ["public_id"], unique=True)
    with op.batch_alter_table("campaign") as batch:
        batch.add_column(sa.Column("sms_connection_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("payment_connection_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_campaign_sms_connection", "connection", ["sms_connection_id"], ["id"])
        batch.create_foreign_key("fk_campaign_payment_connection", "connection", ["payment_connection_id"], ["id"])
    with op.batch_alter_table("sendattempt") as batch:
        batch.add_column(sa.Column("sms_connection_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_sendattempt_sms_connection", "connection", ["sms_connection_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("sendattempt") as batch:
        batch.drop_constraint("fk_sendattempt_sms_connection", type_="foreignkey")
        batch.drop_column("sms_connection_id")
    with op.batch_alter_table("campaign") as batch:
        batch.drop_constraint("fk_campaign_payment_connection", type_="foreignkey")
        batch.drop_constraint("fk_campaign_sms_connection", type_="foreignkey")
        batch.drop_column("payment_connection_id")
        batch.drop_column("sms_connection_id")
    with op.batch_alter_table("connection") as batch:
        batch.drop_index(batch.f("ix_connection_public_id"))
        batch.drop_index(batch.f("ix_connection_organisation_id"))
    op.drop_table("connection")
