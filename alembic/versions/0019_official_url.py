"""Organisation.official_url: the official web address shown on the identity page (issue 14)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0019_official_url"
down_revision: str | None = "0018_shared_limits"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("organisation") as batch:
        batch.add_column(sa.Column("official_url", sa.String(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("organisation") as batch:
        batch.drop_column("official_url")
