"""Link.kept_answers: after a wrong answer, the non-secret answers as typed
(for a few minutes, under a random key's hash), so the identity page refills
them on whichever app process the redirect lands (issue 17)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0020_link_kept_answers"
down_revision: str | None = "0019_official_url"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("link") as batch:
        batch.add_column(sa.Column("kept_answers", sa.String(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("link") as batch:
        batch.drop_column("kept_answers")
