"""Who may see what in the archive (decided here, in one place).

- Recordings, their files, case metadata and markers: clerks and administrators whose
  site took part in the recorded session (for a case: one of the case's sites or of
  the sessions it was discussed in).
- A denouncer's identity: administrators of one of the case's sites only. Clerks
  handle citizens' requests for extracts and never need the identity; the fewer who
  can read it, the better the confidentiality the Law on Denunciations demands.
- The audit log: administrators, for their own site's people and records.
"""

from __future__ import annotations

from collections.abc import Iterable

from core.access import Role

ARCHIVE_ROLES = frozenset({Role.CLERK, Role.ADMINISTRATOR})


def may_use_archive(role: str) -> bool:
    return role in ARCHIVE_ROLES


def may_see(role: str, site: str, sites: Iterable[str]) -> bool:
    """A recording or case whose sites are ``sites``."""
    return role in ARCHIVE_ROLES and site in set(sites)


def may_see_denouncer(role: str, site: str, case_sites: Iterable[str]) -> bool:
    return role == Role.ADMINISTRATOR and site in set(case_sites)


def may_read_audit(role: str) -> bool:
    return role == Role.ADMINISTRATOR
