"""Alembic's environment and revisions for the records; `hubchat.records.migrate` runs them."""
