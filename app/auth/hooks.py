"""What the accounts domain tells the layers above it, which it may not import."""

from __future__ import annotations

from app.core.hooks import Hook

# Called with the user as they were and the new time zone, after a profile change moved
# them to another zone (things due at a local hour, such as digests, move with it).
timezone_changed: Hook[object] = Hook("auth.timezone_changed")
# Called with user_id after a mailed link proved the account's own address (a confirmation,
# or a password reset, which proves the mailbox too).
email_verified: Hook[object] = Hook("auth.email_verified")
