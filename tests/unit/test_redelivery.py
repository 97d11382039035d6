"""The backoff of deliveries that raised (tasks/redelivery.py), against the visibility check."""

from __future__ import annotations

from confrec.config.settings import VISIBILITY_MARGIN_S
from confrec.tasks.policy import FaultPolicy


def test_backoff_doubles_from_half_a_second_to_its_cap() -> None:
    policy = FaultPolicy()
    assert [policy.backoff(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_the_longest_backoff_fits_in_the_visibility_margin() -> None:
    """A delivery may raise after its longest run and then wait its backoff before it is
    handed back: the margin in ``Settings.longest_job_s`` must cover that wait, or Redis
    would give the job to a second worker while the first still holds it."""
    assert FaultPolicy().backoff_max_s < VISIBILITY_MARGIN_S
