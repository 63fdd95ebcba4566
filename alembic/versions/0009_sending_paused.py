"""An organisation's sending stopped by an account-level provider error (an i18n key).

Revision ID: 0009_sending_paused
Revises: 0008_pause_reason
"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0009_sending_paused"
down_revision: Union[str, None] = "0008_pause_reason"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("organisation") as batch:
        batch.add_column(sa.Column("sending_paused_reason", sa.String(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("organisation") as batch:
        batch.drop_column("sending_paused_reason")
