"""Cases as the bridge, the recorder and the archive name them: the number rule, markers."""

from __future__ import annotations

import enum
import unicodedata
from dataclasses import dataclass
from datetime import datetime


class CaseKind(enum.StrEnum):
    """What a citizen brings (the archive's cases and the reception book's entries)."""

    COMPLAINT = "complaint"
    """Khiếu nại."""
    DENUNCIATION = "denunciation"
    """Tố cáo: the denouncer's identity is confidential."""
    PETITION = "petition"
    """Kiến nghị, phản ánh (petition or feedback)."""
    MIXED = "mixed"
    """Several of the above in one visit (nội dung hỗn hợp)."""


class Outcome(enum.StrEnum):
    """What the reception did with it."""

    ACCEPTED = "accepted"
    """Tiếp nhận để giải quyết (accepted for resolution)."""
    FORWARDED = "forwarded"
    """Chuyển đến cơ quan có thẩm quyền (``forwarded_to`` names it)."""
    GUIDED = "guided"
    """Hướng dẫn, trả lại (returned with guidance)."""
    REFUSED = "refused"
    """Từ chối tiếp (``refusal_reason`` says why)."""


class RefusalReason(enum.StrEnum):
    """The legal reasons to refuse a reception (Law on Citizen Reception 2013, art. 9)."""

    NOT_IN_CONTROL = "not_in_control"
    """Say rượu, dùng chất kích thích, không làm chủ được hành vi."""
    THREAT_OR_INSULT = "threat_or_insult"
    """Đe dọa, xúc phạm, vi phạm nội quy nơi tiếp công dân."""
    ALREADY_SETTLED = "already_settled"
    """Vụ việc đã giải quyết đúng pháp luật, đã được trả lời bằng văn bản."""


MAX_CASE_NUMBER = 64
"""Longest case number accepted (characters)."""
MAX_MARKER_TEXT = 2000
"""Longest marker text accepted (characters), as the archive keeps it."""
CASE_NUMBER_MARKS = "/._-"
"""Punctuation a case number may hold besides letters and digits (``12/2026``, ``KN-117``)."""


def check_case_number(raw: str) -> str:
    """``raw`` as a case number is stored: NFC, without surrounding spaces.

    One rule for the operator's marker, the archive and its API: 1 to
    :data:`MAX_CASE_NUMBER` characters, letters (Vietnamese ones too) and digits and
    ``/ . _ -``, starting with a letter or digit, no ``..``, no control characters.
    Raises :class:`ValueError` saying what is wrong.
    """
    control = next((c for c in raw if unicodedata.category(c)[0] in "CZ" and c != " "), None)
    if control is not None:
        raise ValueError(
            f"a case number cannot contain control or invisible characters (U+{ord(control):04X})"
        )
    number = unicodedata.normalize("NFC", raw.strip(" "))
    if not number:
        raise ValueError("a case number is required")
    if len(number) > MAX_CASE_NUMBER:
        raise ValueError(f"a case number has at most {MAX_CASE_NUMBER} characters")
    other = next((c for c in number if not c.isalnum() and c not in CASE_NUMBER_MARKS), None)
    if other is not None:
        raise ValueError(f"a case number has letters, digits and / . _ - only, not {other!r}")
    if not number[0].isalnum() or ".." in number:
        raise ValueError("a case number starts with a letter or digit and has no '..'")
    return number


@dataclass(frozen=True, slots=True)
class CaseMarker:
    """From ``at`` on, the session discusses case ``case_number``."""

    case_number: str
    """The case's number as the reception book has it."""
    text: str
    """Free text from the operator (may be empty)."""
    at: datetime
    """When the operator marked it (UTC)."""
    by: str = ""
    """Who marked it (the operator token's subject)."""
    archived: bool = False
    """Whether the recorder's archive took the marker too."""
    archive_note: str = ""
    """Why the archive did not take it (no recording, a recorder failure), if it did not."""

    def __post_init__(self) -> None:
        if not self.case_number.strip():
            raise ValueError("a case marker needs a case number")
        if len(self.case_number) > MAX_CASE_NUMBER:
            raise ValueError(f"case number longer than {MAX_CASE_NUMBER} characters")
        if len(self.text) > MAX_MARKER_TEXT:
            raise ValueError(f"marker text longer than {MAX_MARKER_TEXT} characters")
        if self.at.tzinfo is None:
            raise ValueError("marker times must be timezone-aware")

    def as_dict(self, *, with_text: bool = True) -> dict[str, object]:
        """The protocol's ``Marker`` object (rooms get it without text and author)."""
        out: dict[str, object] = {"case_number": self.case_number, "at": self.at.isoformat()}
        if with_text:
            out.update(
                text=self.text,
                by=self.by,
                archived=self.archived,
                archive_note=self.archive_note,
            )
        return out
