"""Figures and argument checks of `vending bench` that need no server."""

from __future__ import annotations

import click
import pytest

from vending.bench.report import percentile
from vending.cli import _loopback_address


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.50) == 50.0
    assert percentile(values, 0.95) == 95.0
    assert percentile(values, 0.99) == 99.0
    assert percentile(values, 1.0) == 100.0


def test_percentile_of_few_values() -> None:
    assert percentile([7.0], 0.99) == 7.0
    assert percentile([1.0, 2.0], 0.5) == 1.0
    assert percentile([], 0.5) == 0.0


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8500", ("127.0.0.1", 8500)),
        ("http://localhost:9000", ("127.0.0.1", 9000)),
        ("http://127.0.0.2", ("127.0.0.2", 80)),
        ("http://[::1]:8000", ("::1", 8000)),
    ],
)
def test_loopback_url_accepted(url: str, expected: tuple[str, int]) -> None:
    assert _loopback_address(url) == expected


@pytest.mark.parametrize(
    "url", ["http://10.0.0.1:8000", "http://example.com", "https://127.0.0.1", "127.0.0.1:80"]
)
def test_other_url_rejected(url: str) -> None:
    with pytest.raises(click.UsageError):
        _loopback_address(url)
