"""Payments remember the connection they were created through:
``payment.payment_connection_id`` (issue 13: webhooks, refunds and expiries
use the same account; NULL: the environment's fallback account).

Revision ID: 0017_payment_connection
Revises: 0016_partial_payment
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0017_payment_connection"
# The coordinator re-chains the branches' migrations at merge.
down_revision: str | None = "0016_partial_payment"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("payment") as batch:
        batch.add_column(sa.Column("payment_connection_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_payment_payment_connection", "connection", ["payment_connection_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("payment") as batch:
        batch.drop_constraint("fk_payment_payment_connection", type_="foreignkey")
        batch.drop_column("payment_connection_id")
