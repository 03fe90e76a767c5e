"""Walk a tenant's audit trail and name the first entry that breaks the chain.

Each entry is checked two ways: its own hash against its content and stored
`previous_hash` (a mismatch means the row was edited), and its
`previous_hash` against the entry before it (a mismatch means something was
removed or slipped in between). Which of the two happened is told by the
entry after: if that one chains to the entry before, the entry in the middle
was inserted.

Ids alone prove nothing: a rolled-back transaction leaves a gap in the
sequence, so gaps are only reported as a hint next to a broken link.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

from audit.models import AuditEntry
from audit.trail import GENESIS_HASH, entry_hash

READ_BATCH = 2000


class Break(StrEnum):
    MODIFIED = "modified"
    DELETED = "deleted"
    INSERTED = "inserted"


@dataclass(frozen=True)
class Verdict:
    checked: int
    head_hash: str
    broken_at: int | None = None
    kind: Break | None = None
    explanation: str = ""

    @property
    def intact(self) -> bool:
        return self.broken_at is None


def verify_trail() -> Verdict:
    """Check the trail of the tenant schema the connection is on."""
    walk = _Walk()
    entries = _in_order()
    entry = next(entries, None)
    while entry is not None:
        following = next(entries, None)
        verdict = walk.step(entry, following)
        if verdict is not None:
            return verdict
        entry = following
    return Verdict(walk.checked, walk.previous_hash)


@dataclass
class _Walk:
    checked: int = 0
    previous_hash: str = GENESIS_HASH
    previous_id: int | None = None
    # The link before the previous entry, to recognise an inserted one.
    earlier_hash: str | None = None

    def step(self, entry: AuditEntry, following: AuditEntry | None) -> Verdict | None:
        problem = self._check(entry, following)
        if problem is not None:
            broken_at, kind, explanation = problem
            return Verdict(
                self.checked, self.previous_hash, broken_at, kind, explanation
            )
        self.checked += 1
        self.earlier_hash = self.previous_hash
        self.previous_hash, self.previous_id = entry.entry_hash, entry.id
        return None

    def _check(
        self, entry: AuditEntry, following: AuditEntry | None
    ) -> tuple[int, Break, str] | None:
        content_intact = entry.entry_hash == entry_hash(entry.previous_hash, entry)
        linked = entry.previous_hash == self.previous_hash
        if linked and content_intact:
            return None
        if linked:
            return (
                entry.id,
                Break.MODIFIED,
                (
                    f"entry #{entry.id} ({entry.action}) does not match its hash: "
                    "its content was changed after it was written"
                ),
            )
        if self.previous_id is not None and entry.previous_hash == self.earlier_hash:
            return (
                self.previous_id,
                Break.INSERTED,
                (
                    f"entry #{self.previous_id} was slipped in: the entry after it, "
                    f"#{entry.id}, chains to the one before it"
                ),
            )
        if following is not None and following.previous_hash == self.previous_hash:
            return (
                entry.id,
                Break.INSERTED,
                (
                    f"entry #{entry.id} ({entry.action}) was slipped in: the entry "
                    f"after it, #{following.id}, chains to the one before it"
                ),
            )
        return self._unlinked(entry, content_intact)

    def _unlinked(
        self, entry: AuditEntry, content_intact: bool
    ) -> tuple[int, Break, str]:
        after = f"#{self.previous_id}" if self.previous_id is not None else "the start"
        gap = _gap_hint(self.previous_id, entry.id)
        if not content_intact:
            return (
                entry.id,
                Break.MODIFIED,
                (
                    f"entry #{entry.id} ({entry.action}) matches neither its hash nor "
                    f"its predecessor {after}: it was changed, link included{gap}"
                ),
            )
        return (
            entry.id,
            Break.DELETED,
            (
                f"entry #{entry.id} does not chain to {after}: entries between them "
                f"were deleted, or {after} was changed and re-hashed{gap}"
            ),
        )


def _gap_hint(previous_id: int | None, entry_id: int) -> str:
    first_missing = (previous_id or 0) + 1
    if entry_id <= first_missing:
        return ""
    return f"; ids {first_missing}..{entry_id - 1} are missing"


def _in_order() -> Iterator[AuditEntry]:
    return AuditEntry.objects.order_by("id").iterator(chunk_size=READ_BATCH)
