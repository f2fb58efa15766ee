"""The append-only audit log: every view, download, export and refusal is a row.

The code offers ``append`` and ``entries`` only; the ORM refuses updates and deletes
(``models.AppendOnlyError``) and the database refuses them too (triggers on SQLite and
PostgreSQL, see the ``recorder`` migration).
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from core.db import WRITE_OPTION
from recorder.models import AuditEntry

logger = logging.getLogger(__name__)


class AuditResult(enum.StrEnum):
    OK = "ok"
    DENIED = "denied"
    NOT_FOUND = "not_found"
    BAD_REQUEST = "bad_request"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts, from a verified token."""

    name: str
    """The token's subject."""
    role: str
    """The token's role."""
    site: str
    """The token's site."""


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One entry as read back."""

    id: int
    at: datetime
    actor: str
    role: str
    actor_site: str
    action: str
    target: str
    reason: str
    result: str
    detail: str


def _sites_key(sites: list[str]) -> str:
    return "".join(f"|{s}" for s in sorted(sites)) + "|" if sites else ""


class AuditLog:
    """Append and read audit entries."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime] | None = None) -> None:
        self._engine = engine
        self._writer = engine.execution_options(**{WRITE_OPTION: True})
        self._clock = clock or (lambda: datetime.now(UTC))

    def append(
        self,
        actor: Actor,
        action: str,
        target: str,
        result: AuditResult,
        *,
        reason: str = "",
        detail: str = "",
        sites: list[str] | None = None,
    ) -> None:
        entry = AuditEntry(
            at=self._clock(),
            actor=actor.name[:200],
            role=actor.role[:32],
            actor_site=actor.site[:64],
            action=action[:64],
            target=target[:500],
            target_sites=_sites_key(sites or [])[:1000],
            reason=reason[:2000],
            result=str(result),
            detail=detail[:2000],
        )
        with Session(self._writer) as session, session.begin():
            session.add(entry)
        logger.info(
            "audit: %s (%s@%s) %s %s -> %s",
            actor.name,
            actor.role,
            actor.site,
            action,
            target,
            result,
        )

    def entries(
        self, *, site: str | None = None, action: str | None = None, limit: int = 200
    ) -> list[AuditRecord]:
        """Newest first; ``site`` keeps entries by that site's people or about its sites."""
        query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(min(limit, 1000))
        if site is not None:
            query = query.where(
                (AuditEntry.actor_site == site) | AuditEntry.target_sites.contains(f"|{site}|")
            )
        if action is not None:
            query = query.where(AuditEntry.action == action)
        with Session(self._engine) as session:
            return [
                AuditRecord(
                    e.id,
                    e.at,
                    e.actor,
                    e.role,
                    e.actor_site,
                    e.action,
                    e.target,
                    e.reason,
                    e.result,
                    e.detail,
                )
                for e in session.scalars(query)
            ]
