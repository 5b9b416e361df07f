"""Database round trips of every GET route, for each kind of caller, on a school of real size.

Seeds one school (8 classes of 40 students, a parent each, teachers, 4,800 grades, a few
thousand notifications, subscriptions and emails), logs in as its admin, a teacher, a
student and her parent, then calls every GET route the app serves (taken from the app's
own route table, so a new route is measured without editing this file) as each of them,
and as nobody for the public ones. The driver is wrapped to count the calls that would
each be one round trip to MongoDB; mongomock answers from memory, so time says nothing.
Rate-limit counters live in Redis or in memory and are not counted. Each request is
measured cold (the caller not remembered: the first after a login, or 10 s later) and
warm (the same again at once).

    uv run python bench/round_trips.py [--project OTHER_CHECKOUT]

--project imports the app from another checkout (say, `git archive main` unpacked in a
temporary folder) with this checkout's environment, for a before/after table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections import Counter
from typing import Any

from _broadcast_round_trips import measure_broadcast
from _seeded_school import JOIN_CODE, PASSWORD, bench_settings, seed

PATH_VARIANTS: dict[str, list[str]] = {
    "/api/v1/students/{student_id}/grades": ["", "?subject=%20MATH%20"],
    "/api/v1/students/{student_id}/grades/summary": ["", "?subject=math"],
    "/api/v1/notifications": ["", "?unread_only=true&topic=announcements"],
    "/api/v1/users": ["", "?role=student&q=student%201"],
    "/join": ["", f"?code={JOIN_CODE}"],
    # A class of 40; bench/gradebook.py measures 30 and 300.
    "/api/v1/schools/{school_id}/classes/{class_id}/gradebook": ["?subject=math"],
}
ROLES = ("admin", "teacher", "student", "parent")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", help="import the app from this checkout instead")
    parser.add_argument(
        "--broadcast",
        type=int,
        nargs="*",
        default=[1000, 5000],
        help="audience sizes of the broadcast measured after the routes",
    )
    parser.add_argument("--routes-only", action="store_true", help="skip the broadcasts")
    parser.add_argument("--broadcasts-only", action="store_true", help="skip the routes")
    args = parser.parse_args()
    if args.project and os.environ.get("ROUND_TRIPS_PROJECT") != args.project:
        # The other checkout's `app` must come before this one's on the import path.
        env = {
            **os.environ,
            "ROUND_TRIPS_PROJECT": args.project,
            "PYTHONPATH": os.pathsep.join(
                filter(None, [args.project, os.environ.get("PYTHONPATH")])
            ),
        }
        os.execve(sys.executable, [sys.executable, __file__, *sys.argv[1:]], env)
    if not args.broadcasts_only:
        asyncio.run(measure())
    if not args.routes_only:
        for size in args.broadcast:
            asyncio.run(measure_broadcast(size))


def get_routes(app: Any) -> list[tuple[str, Any]]:
    """Every GET path the app serves, with whether it sits behind a bearer token."""
    from fastapi.routing import APIRoute

    def walk(routes: list[Any], prefix: str = "") -> Any:
        for route in routes:
            if hasattr(route, "original_router"):  # an included router (FastAPI 0.16x)
                yield from walk(route.original_router.routes, prefix + route.include_context.prefix)
            elif "GET" in (getattr(route, "methods", None) or ()):
                yield prefix, route

    found = []
    for prefix, route in walk(app.router.routes):
        found.append((prefix + route.path, isinstance(route, APIRoute) and _needs_token(route)))
    return sorted(set(found))


def _needs_token(route: Any) -> bool:
    from fastapi.security import OAuth2PasswordBearer

    pending = [route.dependant]
    while pending:
        dependant = pending.pop()
        if isinstance(dependant.call, OAuth2PasswordBearer):
            return True
        pending.extend(dependant.dependencies)
    return False


async def measure() -> None:
    import httpx
    from _round_trips_counter import counting
    from mongomock_motor import AsyncMongoMockClient

    from app.main import create_app

    settings = bench_settings(
        login_rate_per_account="1000/minute", login_rate_per_client="1000/minute"
    )
    app = create_app(settings, mongo_client=AsyncMongoMockClient(tz_aware=True))
    async with app.router.lifespan_context(app):
        seeded = await seed(settings)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            headers: dict[str, dict[str, str]] = {"-": {}}
            for role, email in seeded.emails.items():
                answer = await http.post(
                    "/api/v1/auth/login", data={"username": email, "password": PASSWORD}
                )
                answer.raise_for_status()
                headers[role] = {"Authorization": f"Bearer {answer.json()['access_token']}"}
            rows = []
            for path, needs_token in get_routes(app):
                url = path.format_map(PathValues(seeded.ids))
                callers = ROLES if needs_token else ("-",)
                for variant in PATH_VARIANTS.get(path, [""]):
                    query = variant
                    if path in seeded.page_tokens:
                        query = f"?token={seeded.page_tokens[path]}"
                    for caller in callers:
                        # The fewest of two tries: the job relay's poll (every 5 s, in the
                        # background) may land inside one of them.
                        tries = []
                        for _ in range(2):
                            forget_callers()
                            with counting() as cold:
                                answer = await http.get(url + query, headers=headers[caller])
                            with counting() as warm:
                                await http.get(url + query, headers=headers[caller])
                            tries.append((cold, warm))
                        cold = min((c for c, _ in tries), key=lambda c: sum(c.values()))
                        warm = min((w for _, w in tries), key=lambda w: sum(w.values()))
                        rows.append((path + variant, caller, answer.status_code, cold, warm))
    print_table(rows)


class PathValues(dict[str, str]):
    """The seeded ids for a route's path; a parameter the seed has no value for (a newer
    route's) reads as a value no record has, and the refusal is measured."""

    def __init__(self, ids: dict[str, str]) -> None:
        super().__init__(ids, user_id=ids["student_id"], kind="csv")

    def __missing__(self, key: str) -> str:
        return f"unknown-{key}"


def forget_callers() -> None:
    """The first request of a caller, as after a login or once the remembered user expired."""
    try:
        from app.auth import user_cache
    except ImportError:  # a checkout from before the callers were remembered
        return
    user_cache.forget_all()


def print_table(rows: list[tuple[str, str, int, Counter[str], Counter[str]]]) -> None:
    """Cold: the caller not remembered (first request after login, or after 10 s). Warm:
    the same request again at once."""
    width = max(len(r[0]) for r in rows)
    print(
        f"{'GET route':<{width}}  {'caller':<7} {'status':>6} {'cold':>4} {'warm':>4}  cold calls"
    )
    for route, caller, status, cold, warm in rows:
        operations = ", ".join(f"{name} {n}" for name, n in sorted(cold.items()))
        trips = f"{sum(cold.values()):>4} {sum(warm.values()):>4}"
        print(f"{route:<{width}}  {caller:<7} {status:>6} {trips}  {operations}")
    for label, trips_of in (
        ("cold", lambda r: sum(r[3].values())),
        ("warm", lambda r: sum(r[4].values())),
    ):
        worst = max(trips_of(r) for r in rows)
        over = sorted({r[0] for r in rows if trips_of(r) > 3})
        print(f"\n{label}: max round trips per GET request {worst}; routes over 3: {len(over)}")
        for route in over:
            print(f"  {route}")


if __name__ == "__main__":
    main()
