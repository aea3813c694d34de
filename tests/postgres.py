"""Throwaway PostgreSQL databases and schemas for tests, on the server named by
VENDING_TEST_POSTGRES_URL."""

from __future__ import annotations

import os
import secrets
from urllib.parse import quote, urlsplit

import psycopg
import pytest

URL_VARIABLE = "VENDING_TEST_POSTGRES_URL"


def _unavailable(reason: str) -> None:
    """Skip the test, or fail it under CI (`CI` set), where PostgreSQL must be running."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so PostgreSQL tests must run)")
    pytest.skip(reason)


def server_url() -> str:
    """Return the server URL, or skip the test when none is set or it is unreachable."""
    url = os.environ.get(URL_VARIABLE)
    if not url:
        _unavailable(
            f"PostgreSQL tests need {URL_VARIABLE}, "
            "for example postgresql://postgres@127.0.0.1:5432/test"
        )
    assert url is not None
    try:
        with psycopg.connect(url, connect_timeout=3):
            pass
    except psycopg.OperationalError as exc:
        _unavailable(f"PostgreSQL at {URL_VARIABLE}={url} is not reachable: {exc}")
    return url


def with_database(url: str, name: str, schema: str | None = None) -> str:
    """Return `url` pointing at database `name`, and with `schema` first in the search path."""
    parts = urlsplit(url)._replace(path="/" + name)
    if schema is not None:
        parts = parts._replace(query="options=" + quote(f"-csearch_path={schema}"))
    return parts.geturl()


def create_database(url: str) -> str:
    """Create an empty database on the server of `url` and return its URL."""
    name = "vending_t_" + secrets.token_hex(6)
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    return with_database(url, name)


def drop_database(url: str) -> None:
    """Drop the database of `url`, ending its connections first."""
    name = urlsplit(url).path.lstrip("/")
    server = os.environ.get(URL_VARIABLE, url)
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def create_schema(database_url: str) -> str:
    """Create an empty schema in the database of `database_url`; return a URL that uses it."""
    schema = "t_" + secrets.token_hex(6)
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
    name = urlsplit(database_url).path.lstrip("/")
    return with_database(database_url, name, schema)


def drop_schema(url: str) -> None:
    """Drop the schema that `url` (from `create_schema`) puts first in the search path."""
    schema = url.rsplit("%3D", 1)[1]
    base = url.split("?", 1)[0]
    with psycopg.connect(base, autocommit=True) as connection:
        connection.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
