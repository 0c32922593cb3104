"""Alembic revisions, one file per schema change, named `NNNN_what.py`."""
