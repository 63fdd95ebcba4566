"""Partial payments recorded outside the system: ``recipient.partial_paid_yen``
(issue 18 item 11).

Revision ID: 0016_partial_payment
Revises: 0015_connections
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0016_partial_payment"
# The coordinator re-chains the branches' migrations at merge.
down_revision: str | None = "0015_connections"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("recipient") as batch:
        batch.add_column(sa.Column("partial_paid_yen", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("recipient") as batch:
        batch.drop_column("partial_paid_yen")
