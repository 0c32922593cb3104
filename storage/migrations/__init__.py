"""Alembic environment and revisions; run them through `storage.migrate`, not alembic.ini."""
