"""Operations: support send-now flag on attempts, indexes for the recipients
table (search / sort / filter across an organisation) and per-target audit.

Revision ID: 0003_ops
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_ops"
down_revision = "0002_api"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sendattempt", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("ignore_quiet_hours", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("recipient", schema=None) as batch_op:
        batch_op.create_index("ix_recipient_org_status", ["organisation_id", "status"], unique=False)
        batch_op.create_index("ix_recipient_org_name", ["organisation_id", "name"], unique=False)
        batch_op.create_index("ix_recipient_campaign_name", ["campaign_id", "name"], unique=False)
        batch_op.create_index("ix_recipient_org_ref", ["organisation_id", "external_ref"], unique=False)
    with op.batch_alter_table("auditlog", schema=None) as batch_op:
        batch_op.create_index("ix_auditlog_target", ["target_type", "target_id"], unique=False)
    with op.batch_alter_table("inboundmessage", schema=None) as batch_op:
        batch_op.create_index("ix_inbound_org_received", ["organisation_id", "received_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("inboundmessage", schema=None) as batch_op:
        batch_op.drop_index("ix_inbound_org_received")
    with op.batch_alter_table("auditlog", schema=None) as batch_op:
        batch_op.drop_index("ix_auditlog_target")
    with op.batch_alter_table("recipient", schema=None) as batch_op:
        batch_op.drop_index("ix_recipient_org_ref")
        batch_op.drop_index("ix_recipient_campaign_name")
        batch_op.drop_index("ix_recipient_org_name")
        batch_op.drop_index("ix_recipient_org_status")
    with op.batch_alter_table("sendattempt", schema=None) as batch_op:
        batch_op.drop_column("ignore_quiet_hours")
