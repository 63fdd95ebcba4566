"""A temporary password (invite, reset) must be changed before anything else.

Revision ID: 0007_must_change_password
Revises: 0006_dash
"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0007_must_change_password"
down_revision: Union[str, None] = "0006_dash"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("user") as batch:
        batch.add_column(sa.Column("must_change_password", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("user") as batch:
        batch.drop_column("must_change_password")
