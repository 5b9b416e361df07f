"""Emails stored by older versions (lower-cased only) are folded at start, once; a
look-alike of another account's address is left alone, and both accounts keep working."""

from __future__ import annotations

from pathlib import Path

from beanie import PydanticObjectId
from jose import jwt

from app.auth.models import User
from tests.auth.conftest import login
from tests.conftest import DEFAULT_PASSWORD
from tests.notifications.test_settings_migration import legacy_user, started_on


async def test_stored_emails_are_folded_and_look_alikes_left_as_they_were(
    tmp_path: Path,
) -> None:
    full_width = {**legacy_user("olga"), "email": "ｏｌｇａ@legacy.example.org"}
    original = {**legacy_user("anna"), "email": "anna@legacy.example.org"}
    look_alike = {**legacy_user("anna2"), "email": "ａｎｎａ@legacy.example.org"}
    plain = legacy_user("ivan")

    async with started_on(tmp_path, [full_width, original, look_alike, plain]) as api:
        emails = {
            user.id: user.email
            for user in await User.find_all().to_list()
            if isinstance(user.id, PydanticObjectId)
        }
        olga = await login(api, "OLGA@legacy.example.org", DEFAULT_PASSWORD)
        anna = await login(api, "ａｎｎａ@legacy.example.org", DEFAULT_PASSWORD)
        ivan = await login(api, "ivan@legacy.example.org", DEFAULT_PASSWORD)

    assert emails[full_width["_id"]] == "olga@legacy.example.org"
    assert emails[original["_id"]] == "anna@legacy.example.org"
    assert emails[look_alike["_id"]] == "ａｎｎａ@legacy.example.org"
    assert emails[plain["_id"]] == "ivan@legacy.example.org"
    assert (olga.status_code, anna.status_code, ivan.status_code) == (200, 200, 200)
    # Typing the look-alike signs in to the original account, the one that held it first.
    assert jwt.get_unverified_claims(anna.json()["access_token"])["sub"] == str(original["_id"])
