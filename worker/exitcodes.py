"""Exit codes of every ``confrec`` command, in one place: scripts branch on them.

``confrec worker`` and ``confrec flower`` exit with Celery's or Flower's own code once
they run; before that with ``INVALID`` (a bad configuration) or ``PORT_IN_USE``, as every
command does.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    JOB_FAILED = 1
    """``bulk --wait``: every outcome arrived and at least one job failed."""
    INVALID = 2
    """Invalid input or configuration (nothing was enqueued); a demo part did not start."""
    BROKER = 3
    """The broker or Redis failed; the message says how many jobs went out before it."""
    TIMED_OUT = 4
    """``bulk --wait`` (and the demo): the wait ended with outcomes (or recordings) missing."""
    UNKNOWN_JOB = 5
    """``status``, ``recordings download``: neither the ledger nor the results stream knows
    the job id (or, for ``--batch``, any job of the batch); ``batch ID``: no such batch."""
    PORT_IN_USE = 6
    """``serve``, ``simulate``, ``flower``, or ``worker`` with ``CONFREC_METRICS_PORT``:
    another process already listens on the port; the message names the port and the
    option or variable that sets it."""
    DOWNLOAD_FAILED = 7
    """``recordings download``: at least one recording could not be downloaded (one line
    each says why; nothing half-written is left under a final name); the rest were saved."""
    NOT_SAVED = 8
    """``bulk --until-saved`` (and the demo): every started job's recording is settled,
    and some are ``not_saved``, ``unknown`` or ``ambiguous`` (``--json`` counts each)."""
    WEBHOOKS_UNVERIFIED = 9
    """``bulk --until-saved``: recordings still pending while ``confrec serve`` answers
    Telnyx's webhooks 503 for want of ``TELNYX_PUBLIC_KEY``: they cannot arrive."""
    RECONCILE_FAILED = 10
    """``reconcile``: some conference or name could not be reconciled (Telnyx refused or
    did not answer, or the run's budget ran out; one line each says why); the rest were."""
    INTERRUPTED = 130
    """``bulk``: interrupted (Ctrl-C, SIGINT), as a shell reports it; the last line on
    stderr names the batch, how many jobs were enqueued, and how to follow it."""
