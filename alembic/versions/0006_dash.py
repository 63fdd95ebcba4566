"""Dashboard: maintained campaign counters and hourly clicks/payments
(backfilled from the recipients) and an index for reminder counts.

Revision ID: 0006_dash
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_dash"
down_revision = "0005_settings"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "campaignstats",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.Column("delivered", sa.Integer(), nullable=False),
        sa.Column("clicked", sa.Integer(), nullable=False),
        sa.Column("verified", sa.Integer(), nullable=False),
        sa.Column("paid", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("paid_yen", sa.Integer(), nullable=False),
        sa.Column("total_yen", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaign.id"]),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisation.id"]),
        sa.PrimaryKeyConstraint("campaign_id"),
    )
    with op.batch_alter_table("campaignstats", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_campaignstats_organisation_id"), ["organisation_id"], unique=False)
    op.create_table(
        "campaignstatshour",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("hour", sa.DateTime(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("clicks", sa.Integer(), nullable=False),
        sa.Column("payments", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaign.id"]),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisation.id"]),
        sa.PrimaryKeyConstraint("campaign_id", "hour"),
    )
    with op.batch_alter_table("sendattempt", schema=None) as batch_op:
        batch_op.create_index("ix_attempt_campaign_kind_status", ["campaign_id", "kind", "status"], unique=False)
    # Existing data: the same definition as services.stats (a later step proves
    # the earlier ones), one grouped pass.
    op.execute(
        """
        INSERT INTO campaignstats (campaign_id, organisation_id, recipients, sent, delivered, clicked,
                                   verified, paid, failed, paid_yen, total_yen)
        SELECT c.id, c.organisation_id,
               COUNT(r.id),
               COUNT(COALESCE(r.sent_at, r.delivered_at, r.clicked_at, r.verified_at, r.paid_at)),
               COUNT(COALESCE(r.delivered_at, r.clicked_at, r.verified_at, r.paid_at)),
               COUNT(COALESCE(r.clicked_at, r.verified_at, r.paid_at)),
               COUNT(COALESCE(r.verified_at, r.paid_at)),
               COUNT(r.paid_at),
               COUNT(r.failed_at),
               COALESCE(SUM(CASE WHEN r.paid_at IS NOT NULL THEN r.amount_yen ELSE 0 END), 0),
               COALESCE(SUM(r.amount_yen), 0)
        FROM campaign c LEFT JOIN recipient r ON r.campaign_id = c.id
        GROUP BY c.id, c.organisation_id
        """
    )
    from smspay_app.services.stats import hour_rows_sql

    for campaign_id, organisation_id in op.get_bind().execute(sa.text("SELECT id, organisation_id FROM campaign")).all():
        op.execute(hour_rows_sql(op.get_bind().dialect.name, campaign_id, organisation_id))


def downgrade() -> None:
    with op.batch_alter_table("sendattempt", schema=None) as batch_op:
        batch_op.drop_index("ix_attempt_campaign_kind_status")
    op.drop_table("campaignstatshour")
    with op.batch_alter_table("campaignstats", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_campaignstats_organisation_id"))
    op.drop_table("campaignstats")
