"""Process settings from the environment (pydantic-settings), as opposed to rules.yaml.

Rules say *what* to listen for and where to send it; settings say *how this process runs*
(database, bind address, secrets). Credentials for platforms are read by each component
from the environment so they never appear in rules.yaml or the console.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SOCIALEAR_", extra="ignore")

    database_url: str | None = Field(default=None, description="default sqlite:///./data/socialear.db")
    rules: str = Field(default="rules.yaml", description="path of the rules file")
    host: str = "127.0.0.1"
    port: int = 8000
    instance_id: str | None = Field(default=None, description="replica name used for source leases and outbox claims; default the host name (stable across restarts)")
    outbox_workers: int = Field(default=4, ge=1, le=64)
    outbox_max_attempts: int | None = Field(
        default=None, ge=1, description="optional cap on delivery attempts; by default retries are bounded by age (sink retry.max_age)"
    )
    outbox_process: bool = Field(
        default=True, description="deliver from a child process (its own core, away from scoring); false: threads"
    )
    log_level: str = "INFO"
    secure_cookies: bool = False


def get_settings() -> Settings:
    return Settings()
