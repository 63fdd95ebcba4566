"""Why the system paused a campaign (an account error, a usage cap): an i18n key.

Revision ID: 0008_pause_reason
Revises: 0007_must_change_password
"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0008_pause_reason"
down_revision: Union[str, None] = "0007_must_change_password"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("campaign") as batch:
        batch.add_column(sa.Column("paused_reason", sa.String(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("campaign") as batch:
        batch.drop_column("paused_reason")
