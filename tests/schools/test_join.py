"""The join page the guardian-code email links to, over HTTP as a browser sends it."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest

from app.auth.models import Role, User
from app.core.config import Settings
from app.core.security import utcnow
from app.schools.models import GuardianCode, GuardianLink
from tests.auth.conftest import mailed_token, outbox, text_of
from tests.auth.test_pages import error_after
from tests.conftest import DEFAULT_PASSWORD, UserFactory, World
from tests.pages import english_words, visible_text

LoginAs = Callable[[User], dict[str, str]]
PARENT_EMAIL = "elena@example.org"
NEW_PASSWORD = "elena-password-1"


@pytest.fixture
async def masha(world: World, make_user: UserFactory) -> User:
    """A student called Masha Ivanova on 5A's roster."""
    assert world.school.id is not None
    student = await make_user(Role.student, school_ids=[world.school.id], full_name="Masha Ivanova")
    assert student.id is not None
    world.school.classes[0].student_ids.append(student.id)
    await world.school.save()
    return student


async def mail_code(
    client: httpx.AsyncClient, settings: Settings, issuer: dict[str, str], student: User
) -> str:
    """Issue a code mailed to PARENT_EMAIL; the join link that email carries."""
    response = await client.post(
        f"/students/{student.id}/guardian-codes", json={"email": PARENT_EMAIL}, headers=issuer
    )
    assert response.status_code == 201, response.text
    [message] = [m for m in outbox(settings) if m["To"] == PARENT_EMAIL]
    found = re.search(r"https?://\S+/join\?code=[A-Z0-9]+", text_of(message))
    assert found, text_of(message)
    assert found.group(0).endswith(response.json()["code"])
    return found.group(0)


@pytest.fixture
async def join_link(
    client: httpx.AsyncClient, settings: Settings, world: World, masha: User, login_as: LoginAs
) -> str:
    """The join link of a code the school's admin mailed to PARENT_EMAIL for Masha."""
    return await mail_code(client, settings, login_as(world.admin), masha)


def path_of(link: str) -> str:
    return link.split("://", 1)[1].split("/", 1)[1].join(["/", ""])


def code_of(link: str) -> str:
    return link.rsplit("=", 1)[1]


async def linked(parent_email: str, student: User) -> bool:
    parent = await User.find_one({"email": parent_email})
    if parent is None:
        return False
    link = await GuardianLink.find_one({"parent_id": parent.id, "student_id": student.id})
    return link is not None


def new_form(code: str, **fields: str) -> dict[str, str]:
    return {
        "code": code,
        "new_full_name": "Elena Ivanova",
        "new_password": NEW_PASSWORD,
        "new_password_again": NEW_PASSWORD,
        "new_locale": "en",
        **fields,
    }


async def test_the_email_link_opens_a_page_naming_the_school_and_the_first_name(
    site: httpx.AsyncClient,
    join_link: str,
) -> None:
    page = await site.get(path_of(join_link))

    assert page.status_code == 200
    text = visible_text(page.text)
    assert "School 1" in text and "Masha" in text and "Ivanova" not in text
    assert "I am new here" in text and "I already have an account" in text
    assert PARENT_EMAIL in text  # the login a new account gets
    for field in ("new_full_name", "new_password", "new_password_again", "new_locale"):
        assert f'<label for="{field}">' in page.text
    assert 'name="new_email"' not in page.text  # the address is the one the code went to
    # Opening the page spent nothing.
    [code] = await GuardianCode.find_all().to_list()
    assert code.redeemed_at is None and code.claimants == []


@pytest.mark.parametrize(
    ("params", "headers"),
    [({"lang": "ru"}, {}), ({}, {"Accept-Language": "ru-RU,ru;q=0.9,en;q=0.5"})],
)
async def test_a_russian_reader_reads_it_all_in_russian(
    site: httpx.AsyncClient,
    params: dict[str, str],
    headers: dict[str, str],
    join_link: str,
) -> None:
    page = await site.get("/join", params={"code": code_of(join_link), **params}, headers=headers)

    assert '<html lang="ru">' in page.text and "Я здесь впервые" in page.text
    assert english_words(page.text.replace("School 1", "").replace("Masha", "")) == []


async def test_a_new_parent_registers_and_is_linked_when_confirming_the_address(
    client: httpx.AsyncClient,
    site: httpx.AsyncClient,
    settings: Settings,
    world: World,
    masha: User,
    login_as: LoginAs,
) -> None:
    link = await mail_code(client, settings, login_as(world.teacher), masha)

    done = await site.post("/join/new?lang=en", data=new_form(code_of(link), new_locale="ru"))

    assert done.status_code == 202, done.text
    assert "Проверьте почту" in done.text and PARENT_EMAIL in done.text  # in the chosen language
    parent = await User.find_one({"email": PARENT_EMAIL})
    assert parent is not None and parent.role == Role.parent and not parent.email_verified
    assert parent.full_name == "Elena Ivanova" and parent.locale.value == "ru"
    assert parent.timezone == "Europe/Moscow"  # the school's
    assert not await linked(PARENT_EMAIL, masha)

    token = mailed_token(settings, to=PARENT_EMAIL, path="verify-email")
    confirmed = await site.post("/verify-email", data={"token": token})

    assert confirmed.status_code == 200
    assert await linked(PARENT_EMAIL, masha)
    login = await client.post(
        "/auth/login", data={"username": PARENT_EMAIL, "password": NEW_PASSWORD}
    )
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    children = (await client.get("/users/me/children", headers=headers)).json()["items"]
    assert [c["full_name"] for c in children] == ["Masha Ivanova"]
    # Linking subscribed the parent to the child, as entering the code does.
    subscriptions = (await client.get("/subscriptions", headers=headers)).json()["items"]
    assert [s["target_id"] for s in subscriptions] == [str(masha.id)]

    again = await site.get(path_of(link))
    assert again.status_code == 400 and "already been used" in again.text


async def test_an_existing_verified_parent_is_linked_at_once(
    site: httpx.AsyncClient,
    world: World,
    masha: User,
    join_link: str,
) -> None:
    done = await site.post(
        "/join/existing",
        data={
            "code": code_of(join_link),
            "existing_email": world.parent.email.upper(),
            "existing_password": DEFAULT_PASSWORD,
        },
    )

    assert done.status_code == 200, done.text
    assert "Masha is linked" in done.text
    assert await linked(world.parent.email, masha)
    [code] = await GuardianCode.find_all().to_list()
    assert code.redeemed_by == world.parent.id


async def test_an_unverified_parent_signing_in_is_linked_after_confirming(
    client: httpx.AsyncClient,
    site: httpx.AsyncClient,
    settings: Settings,
    world: World,
    masha: User,
    make_user: UserFactory,
    login_as: LoginAs,
) -> None:
    unverified = await make_user(Role.parent, email="late@example.org")
    unverified.email_verified = False
    await unverified.save()
    link = await mail_code(client, settings, login_as(world.admin), masha)

    waiting = await site.post(
        "/join/existing",
        data={
            "code": code_of(link),
            "existing_email": unverified.email,
            "existing_password": DEFAULT_PASSWORD,
        },
    )

    assert waiting.status_code == 202 and "Check your email" in waiting.text
    assert not await linked(unverified.email, masha)
    token = mailed_token(settings, to=unverified.email, path="verify-email")
    assert (await client.post("/auth/verify-email", json={"token": token})).status_code == 204
    assert await linked(unverified.email, masha)


async def test_wrong_password_and_staff_accounts_are_refused_next_to_the_field(
    site: httpx.AsyncClient,
    world: World,
    join_link: str,
) -> None:
    code = code_of(join_link)

    wrong = await site.post(
        "/join/existing",
        data={"code": code, "existing_email": world.parent.email, "existing_password": "nope"},
    )
    assert wrong.status_code == 401
    assert error_after(wrong.text, "existing_password") == "Wrong email or password."
    assert f'value="{world.parent.email}"' in wrong.text  # typed once, kept

    teacher = await site.post(
        "/join/existing?lang=ru",
        data={
            "code": code,
            "existing_email": world.teacher.email,
            "existing_password": DEFAULT_PASSWORD,
        },
    )
    assert teacher.status_code == 403
    assert error_after(teacher.text, "existing_email").startswith("Это не учётная запись родителя")
    [stored] = await GuardianCode.find_all().to_list()
    assert stored.redeemed_at is None and stored.claimants == []


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"new_full_name": "  "}, "new_full_name", "Enter your full name."),
        ({"new_full_name": "Elena\u202eIvanova"}, "new_full_name", "control or direction"),
        (
            {"new_password": "short", "new_password_again": "short"},
            "new_password",
            "at least 8 characters",
        ),
        ({"new_password_again": "something-else"}, "new_password_again", "do not match"),
        ({"new_locale": "de"}, "new_locale", "Choose one of the options."),
    ],
)
async def test_bad_new_account_input_is_shown_next_to_its_field(
    site: httpx.AsyncClient,
    fields: dict[str, str],
    field: str,
    message: str,
    join_link: str,
) -> None:
    refused = await site.post("/join/new", data=new_form(code_of(join_link), **fields))

    assert refused.status_code == 422
    assert message in error_after(refused.text, field)
    assert await User.find_one({"email": PARENT_EMAIL}) is None
    assert 'name="code" value="' + code_of(join_link) in refused.text  # the form is still usable


async def test_an_address_with_an_account_is_sent_to_the_sign_in_form(
    client: httpx.AsyncClient,
    site: httpx.AsyncClient,
    settings: Settings,
    world: World,
    masha: User,
    make_user: UserFactory,
    login_as: LoginAs,
) -> None:
    await make_user(Role.parent, email=PARENT_EMAIL)
    link = await mail_code(client, settings, login_as(world.admin), masha)

    taken = await site.post("/join/new", data=new_form(code_of(link)))

    assert taken.status_code == 409
    assert "already exists" in error_after(taken.text, "existing_email")
    assert f'value="{PARENT_EMAIL}"' in taken.text


async def test_a_paper_code_asks_for_the_address(
    client: httpx.AsyncClient, site: httpx.AsyncClient, world: World, masha: User, login_as: LoginAs
) -> None:
    issued = await client.post(
        f"/students/{masha.id}/guardian-codes", headers=login_as(world.admin)
    )
    code = issued.json()["code"]
    # Typed off paper, with a space and in lower case.
    spaced = f"{code[:4].lower()} {code[4:]}"

    page = await site.get("/join", params={"code": spaced})
    assert page.status_code == 200 and '<label for="new_email">' in page.text

    bad = await site.post("/join/new", data=new_form(spaced, new_email="not-an-address"))
    assert bad.status_code == 422
    assert error_after(bad.text, "new_email").startswith("Enter your email address")

    good = await site.post("/join/new", data=new_form(spaced, new_email="Paper@Example.org"))
    assert good.status_code == 202
    assert await User.find_one({"email": "paper@example.org"}) is not None


async def test_used_expired_unknown_and_withdrawn_codes_say_so(
    client: httpx.AsyncClient,
    site: httpx.AsyncClient,
    settings: Settings,
    world: World,
    masha: User,
    login_as: LoginAs,
) -> None:
    admin = login_as(world.admin)
    used = code_of(await mail_code(client, settings, admin, masha))
    redeemed = await client.post(
        "/users/me/children", json={"code": used}, headers=login_as(world.parent)
    )
    assert redeemed.status_code == 201
    expired = (await client.post(f"/students/{masha.id}/guardian-codes", headers=admin)).json()
    await GuardianCode.find_one({"redeemed_at": None}).update(
        {"$set": {"expires_at": utcnow() - timedelta(minutes=1)}}
    )
    teacher_code = (
        await client.post(f"/students/{masha.id}/guardian-codes", headers=login_as(world.teacher))
    ).json()["code"]
    # The teacher no longer teaches 5A: their code links no one.
    world.school.classes[0].teachers = []
    await world.school.save()

    for code, says in [
        (used, "already been used"),
        (expired["code"], "has expired"),
        ("ZZZZ2222", "do not know this code"),
        ("not a code at all", "do not know this code"),
        (teacher_code, "no longer valid"),
    ]:
        page = await site.get("/join", params={"code": code})
        assert page.status_code == 400, code
        text = visible_text(page.text)
        assert says in text and "Ask your child's class teacher" in text
        posted = await site.post("/join/new", data=new_form(code))
        assert posted.status_code == 400 and says in visible_text(posted.text)
    assert await User.find_one({"email": PARENT_EMAIL}) is None


async def test_without_a_code_the_page_asks_for_one(site: httpx.AsyncClient) -> None:
    page = await site.get("/join", params={"lang": "ru"})

    assert page.status_code == 200
    assert '<label for="code">Код родителя</label>' in page.text
    assert english_words(page.text.replace("ABCD2345", "")) == []


async def test_the_site_root_says_where_each_person_goes(site: httpx.AsyncClient) -> None:
    page = await site.get("/")
    russian = await site.get("/", headers={"Accept-Language": "ru"})

    assert page.status_code == 200 and "Schoolbell is a school e-diary" in page.text
    assert 'href="/join?lang=en"' in page.text and 'href="/docs"' in page.text
    assert "invitation" in page.text
    assert '<html lang="ru">' in russian.text and english_words(russian.text) == []
    for href in re.findall(r'href="([^"]+)"', page.text):
        assert (await site.get(href)).status_code == 200, href
