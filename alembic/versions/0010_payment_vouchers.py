"""Payments a real gateway accepts: the gateway's customer and payment intent,
the voucher (konbini / bank transfer) with its deadline, and refunds; a
recipient's own invoice lines.

Revision ID: 0010_payment_vouchers
Revises: 0008_pause_reason
"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0010_payment_vouchers"
down_revision: Union[str, None] = "0009_sending_paused"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("payment") as batch:
        batch.add_column(sa.Column("provider_customer_id", sa.String(), nullable=False, server_default=""))
        batch.add_column(sa.Column("provider_payment_intent", sa.String(), nullable=False, server_default=""))
        batch.add_column(sa.Column("expires_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("voucher_json", sa.String(), nullable=False, server_default=""))
        batch.add_column(sa.Column("refunded_yen", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("recipient") as batch:
        batch.add_column(sa.Column("invoice_lines_json", sa.String(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("recipient") as batch:
        batch.drop_column("invoice_lines_json")
    with op.batch_alter_table("payment") as batch:
        batch.drop_column("refunded_yen")
        batch.drop_column("voucher_json")
        batch.drop_column("expires_at")
        batch.drop_column("provider_payment_intent")
        batch.drop_column("provider_customer_id")
