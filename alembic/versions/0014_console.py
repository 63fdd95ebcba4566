"""The console (issue 15): a campaign's recipient language, the organisation's
qualified-invoice registration number, an invoice line's tax rate.

Revision ID: 0014_console
Revises: 0011_campaign_lifecycle
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0014_console"
down_revision: str | None = "0012_sign_in_failures"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("campaign") as batch:
        batch.add_column(sa.Column("recipient_language", sa.String(), nullable=False, server_default="ja"))
    with op.batch_alter_table("organisation") as batch:
        batch.add_column(sa.Column("invoice_registration_number", sa.String(), nullable=False, server_default=""))
    with op.batch_alter_table("invoiceline") as batch:
        batch.add_column(sa.Column("tax_rate", sa.Integer(), nullable=False, server_default="10"))


def downgrade() -> None:
    with op.batch_alter_table("invoiceline") as batch:
        batch.drop_column("tax_rate")
    with op.batch_alter_table("organisation") as batch:
        batch.drop_column("invoice_registration_number")
    with op.batch_alter_table("campaign") as batch:
        batch.drop_column("recipient_language")
