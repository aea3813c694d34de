from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from vending.store import migrate
from vending.store.sqlite import SqliteDatabase


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[SqliteDatabase]:
    """Return a migrated SQLite database in a throwaway file."""
    store = SqliteDatabase(f"sqlite:///{tmp_path / 'vending.db'}")
    migrate.upgrade(store)
    yield store
    await store.close()
