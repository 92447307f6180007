"""Failed sign-ins are counted from the audit log (one limit for every worker and across restarts): an index
that finds a user name's recent failures without reading the others.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

INDEX = "ix_audit_entries_action_object_at"


def upgrade() -> None:
    op.create_index(INDEX, "audit_entries", ["action", "object", "at"])


def downgrade() -> None:
    op.drop_index(INDEX, table_name="audit_entries")
