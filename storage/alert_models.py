"""Tables for marketing's push channels: spike alerts sent, and scheduled digests' state.

Why a row per alerted spike with a unique key: several replicas check for spikes after
their own polls, and a restart re-checks recent hours. Whoever inserts the key first
sends; everyone else's insert is ignored (`INSERT ... ON CONFLICT DO NOTHING`), so one
spike is alerted once however many processes see it.

Why digest state is stored: a digest is due per cron slot; the slot sent last, the
attempts of a failing send and its next retry must survive a restart and be shared by
replicas, and they are what `socialear sources` and the Sources page show as health.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

import storage  # noqa: F401  (installs the constraint naming convention first)
from storage.types import json_dict_column, utc_column, utcnow


class SpikeAlert(SQLModel, table=True):
    """One spike that was alerted (or is being alerted) to the alert sinks."""

    __tablename__ = "spike_alert"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=255, unique=True)  # brand|kind|start hour
    brand: str = Field(max_length=128)
    kind: str = Field(max_length=16)
    start: datetime = Field(sa_column=utc_column(nullable=False))
    end: datetime = Field(sa_column=utc_column(nullable=False))
    mentions: int = 0
    baseline: float = 0.0
    claimed_by: str = Field(max_length=128)  # the replica that inserted the key
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=utc_column(nullable=False, default=utcnow)
    )
    sent_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    details: dict[str, Any] = Field(default_factory=dict, sa_column=json_dict_column())


class DigestState(SQLModel, table=True):
    """Where one `reports:` digest stands: last slot sent, a failing send's retries."""

    __tablename__ = "digest_state"

    name: str = Field(primary_key=True, max_length=64)
    last_slot: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    last_sent_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    pending_slot: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    last_error: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    last_error_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    sent_total: int = 0


__all__ = ["DigestState", "SpikeAlert"]
