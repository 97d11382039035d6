"""Who enqueued a job: the principal a bearer token of ``confrec serve`` stands for.

Jobs from the CLI or ``send_task`` have none. A principal sees its own jobs; an operator
token sees every job. Only a *named* principal (``name:token``) scopes its batch keys:
an unnamed token keeps the derivation every batch had before principals existed, so
re-sending such a batch stays safe.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Principal:
    name: str
    """Recorded with each job it enqueues; never the token (an unnamed token's name is a
    digest of it, ``sha256:`` and 12 hex digits)."""
    named: bool = True
    """Named in the tokens (``name:token``): its derived command ids include its name."""
    operator: bool = False
    """A token marked ``+operator``: sees every job."""

    def sees(self, owner: str | None) -> bool:
        """Whether a job (or a job's recordings) enqueued by ``owner`` is shown to it."""
        return self.operator or owner == self.name

    @property
    def batch_scope(self) -> str | None:
        """What a derived command id includes besides the batch key: the name, if named."""
        return self.name if self.named else None
