"""What the schools domain tells the layers above it, which it may not import."""

from __future__ import annotations

from app.core.hooks import Hook

# Called with parent_id and student_id after a link is written (or found already there).
guardian_linked: Hook[object] = Hook("schools.guardian_linked")
# Called with parent_id and student_id after a link is removed.
guardian_unlinked: Hook[object] = Hook("schools.guardian_unlinked")
