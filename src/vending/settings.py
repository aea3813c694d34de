"""Settings, read from `VENDING_*` environment variables and a `.env` file."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every tunable of the service. Command-line options override these values."""

    model_config = SettingsConfigDict(env_prefix="VENDING_", env_file=".env", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    database: str = "sqlite:///vending.db"
    log_level: str = "INFO"

    password_min_length: int = Field(8, ge=1, le=128)
    argon2_time_cost: int = Field(2, ge=1)
    argon2_memory_kib: int = Field(19 * 1024, ge=8)
    argon2_parallelism: int = Field(1, ge=1)
    hash_concurrency: int = Field(2, ge=1, description="argon2 hashes computed at once")

    token_ttl_seconds: int = Field(24 * 3600, ge=1)
    session_ttl_seconds: int = Field(7 * 24 * 3600, ge=1)
    status_ttl_seconds: int = Field(24 * 3600, ge=1)
    idempotency_ttl_seconds: int = Field(24 * 3600, ge=1)
    purge_interval_seconds: float = Field(60.0, gt=0)

    request_wait_seconds: float = Field(5.0, ge=0, description="REST: wait for a result")
    status_poll_wait_ms: float = Field(
        60.0, ge=0, le=1000, description="seed /req_status: wait for a queued request's status"
    )
    sqlite_synchronous: Literal["full", "normal", "off"] = "full"
    pg_pool_size: int = Field(8, ge=1, description="PostgreSQL connections per process")
    poll_interval_seconds: float = Field(
        1.0, gt=0, description="PostgreSQL: how often workers look for requests without a NOTIFY"
    )
    batch_size: int = Field(32, ge=1, description="requests a worker applies per transaction")
    max_attempts: int = Field(5, ge=1)
    switch_interval_ms: float = Field(
        0.5, gt=0, le=100, description="how often Python threads hand over the GIL, in ms"
    )

    login_failures_per_account: int = Field(5, ge=1)
    login_failures_per_address: int = Field(50, ge=1)
    cors_origins: list[str] = Field(default_factory=list)


def redact_url(url: str) -> str:
    """Return a database URL without its password."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        credentials, host = rest.rsplit("@", 1)
        user = credentials.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}" if ":" in credentials else url
    return url
