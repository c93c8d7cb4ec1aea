"""The quickstart summary's loss line (no training: the whole pipeline is in test_quickstart.py)."""

from __future__ import annotations

import pytest

from toolset.quickstart import loss_change


def rows(*losses: float, every: int = 4) -> list[dict]:
    logged = [{"step": 1 + every * index, "loss": loss} for index, loss in enumerate(losses)]
    return [{"step": 0, "eval": "no loss here"}, *logged]


@pytest.mark.parametrize(
    ("metrics", "expected"),
    [
        ([], "no loss logged"),
        (rows(0.5), "loss 0.500 at step 1 -> 0.500 at step 1"),
        (rows(2.015, 2.38, 2.2, 2.19), "loss 2.015 at step 1 -> 2.190 at step 13"),
        # the last value alone is above the first, but the loss fell: the quarters' means show it
        (
            rows(2.0, 2.4, 2.2, 2.2, 1.8, 1.6, 1.5, 2.1),
            "loss 2.200 -> 1.800, means of the first and last 2 logged values",
        ),
        (rows(*[3.0] * 16, 1.0), "loss 3.000 -> 2.500, means of the first and last 4 logged values"),
    ],
)
def test_loss_change(metrics, expected):
    assert loss_change(metrics) == expected
