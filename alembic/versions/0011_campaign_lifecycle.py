"""Campaign lifecycle: ``completed`` becomes ``active`` (follow-ups still go
out), then ``closed`` by the operator or at ``closes_at``; a reply that may be
an opt-out but is not certain is flagged for the desk (``opt_out_unsure``).

Revision ID: 0011_campaign_lifecycle
Revises: 0008_pause_reason
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0011_campaign_lifecycle"
down_revision: str | None = "0010_payment_vouchers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("campaign") as batch:
        batch.add_column(sa.Column("closes_at", sa.DateTime(), nullable=True))
    op.execute("UPDATE campaign SET status = 'active' WHERE status = 'completed'")
    with op.batch_alter_table("inboundmessage") as batch:
        batch.add_column(sa.Column("opt_out_unsure", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("inboundmessage") as batch:
        batch.drop_column("opt_out_unsure")
    op.execute("UPDATE campaign SET status = 'completed' WHERE status IN ('active', 'closed')")
    with op.batch_alter_table("campaign") as batch:
        batch.drop_column("closes_at")
