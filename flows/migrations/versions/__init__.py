"""Alembic revisions of the trialflow store, oldest first (see flows.migrations)."""
