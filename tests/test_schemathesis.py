"""The whole API against its own OpenAPI document, fuzzed by schemathesis as each kind of user.

A real `schoolbell dev --demo` per role, so what one role's run creates, edits or deletes
never shapes another's. The route list comes from /openapi.json and the ids from the demo
database, so new routes and new kinds of documents are covered without touching this file.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from bson import ObjectId

from app.core.embedded import read_embedded
from app.demo import DEMO_ADMIN_EMAIL, DEMO_PASSWORD
from tests.test_cli import DevServer, clean_env, printed_account

CHECKS = (
    "not_a_server_error,response_schema_conformance,ignored_auth,"
    "status_code_conformance,response_headers_conformance"
)
# Logout would end the very session the run is authenticated with.
EXCLUDED_PATH = "/api/v1/auth/logout"
# Tens of seconds per role; more examples found nothing more (tried 50, and random seeds).
MAX_EXAMPLES = 10
# How often an `..._id` parameter gets a real id of its kind rather than a generated string:
# random ids only ever reach the 404 of a route, real ones reach what is behind it.
REAL_ID_PROBABILITY = 0.8
RUN_TIMEOUT_SECONDS = 600


def schemathesis_command() -> list[str]:
    script = Path(sys.executable).with_name("schemathesis")
    return [str(script)] if script.exists() else [sys.executable, "-m", "schemathesis.cli"]


def singular(plural: str) -> str:
    if plural.endswith("sses"):  # classes
        return plural[:-2]
    return plural.removesuffix("s")


def known_ids(database: dict[str, list[dict[str, Any]]]) -> dict[str, set[str]]:
    """Every id in the database under the name that points at it: `school_id` holds the ids
    of `schools` and every value of a `school_id` field, `student_id` those of `student_ids`."""
    found: dict[str, set[str]] = defaultdict(set)

    def walk(value: Any, name: str) -> None:
        if isinstance(value, ObjectId):
            found[name].add(str(value))
        elif isinstance(value, list):
            for item in value:
                walk(item, name if name.endswith("_id") else singular(name))
        elif isinstance(value, dict):
            for key, item in value.items():
                if key in ("_id", "id"):
                    walk(item, f"{name}_id")
                elif key.endswith("_ids"):
                    walk(item, key.removesuffix("s"))
                else:
                    walk(item, key)

    for collection, documents in database.items():
        for document in documents:
            walk(document, singular(collection))
    return found


def id_names(openapi: dict[str, Any]) -> set[str]:
    """Names of the id parameters and body fields the API documents."""
    names = {
        parameter["name"]
        for operations in openapi["paths"].values()
        for operation in operations.values()
        for parameter in operation.get("parameters", [])
    }
    names.update(
        field
        for schema in openapi.get("components", {}).get("schemas", {}).values()
        for field in schema.get("properties", {})
    )
    return {name for name in names if name.endswith("_id")}


def schemathesis_config(openapi: dict[str, Any], ids: dict[str, set[str]]) -> str:
    """schemathesis.toml: each id name draws from a dictionary of the real ids of its kind."""
    dictionaries: list[str] = []
    bindings: list[str] = []
    for name in sorted(id_names(openapi)):
        if not ids.get(name):
            continue
        dictionaries += [f"[dictionaries.{name}]", f"values = {json.dumps(sorted(ids[name]))}"]
        bindings.append(
            f'{name} = {{ dictionary = "{name}", probability = {REAL_ID_PROBABILITY} }}'
        )
    return "\n".join([*dictionaries, "", "[parameters]", *bindings, ""])


def saved_demo_database(data_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """The dev database once its journal holds the whole demo (the admin is written last)."""
    deadline = time.monotonic() + 30
    while True:
        database = read_embedded(data_dir)
        if any(user.get("email") == DEMO_ADMIN_EMAIL for user in database.get("users", [])):
            return database
        assert time.monotonic() < deadline, "the demo never reached the dev database"
        time.sleep(0.2)


def run_schemathesis(
    server: DevServer, token: str, config: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            *schemathesis_command(),
            "--config-file",
            str(config),
            "run",
            f"{server.base}/openapi.json",
            "--checks",
            CHECKS,
            "--header",
            f"Authorization: Bearer {token}",
            "--exclude-path",
            EXCLUDED_PATH,
            "--max-examples",
            str(MAX_EXAMPLES),
            # Same cases on every run (and no example database), so a CI failure replays locally.
            "--generation-deterministic",
            # Bodies of rows each bound to a real id and a scale (a batch of grades, a class's
            # register) are mostly filtered out; the cases that are made still run.
            "--suppress-health-check",
            "filter_too_much",
            "--no-color",
        ],
        cwd=config.parent,
        env=clean_env(config.parent / "unused-data"),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
    )


@pytest.fixture
def demo_server(tmp_path: Path) -> Iterator[DevServer]:
    workdir = tmp_path / "work"
    workdir.mkdir()
    # The default 15 minutes could run out on a slow machine before the run ends.
    server = DevServer(workdir, tmp_path / "data", "--demo", ACCESS_TOKEN_MINUTES="120")
    yield server
    if server.process.poll() is None:  # a failed assertion must not leave it running
        server.stop(signal.SIGKILL)


@pytest.mark.slow
@pytest.mark.parametrize("role", ["admin", "teacher", "parent"])
def test_every_route_keeps_its_contract_for(
    role: str, demo_server: DevServer, tmp_path: Path
) -> None:
    server = demo_server
    token = server.token(printed_account(server.output(), role), DEMO_PASSWORD)
    # Made on the first request, which takes seconds on a busy machine.
    openapi = httpx.get(f"{server.base}/openapi.json", timeout=60).json()
    config = tmp_path / "work" / "schemathesis.toml"
    config.write_text(
        schemathesis_config(openapi, known_ids(saved_demo_database(tmp_path / "data"))),
        encoding="utf-8",
    )

    result = run_schemathesis(server, token, config)

    report = f"{result.stdout}\n{result.stderr}"
    assert result.returncode == 0, f"schemathesis found problems as the demo {role}:\n{report}"
    # Its summary (operations, checks, cases), for the log of a run that passed.
    print(f"schemathesis as the demo {role}:\n" + "\n".join(result.stdout.splitlines()[-25:]))
    # A run whose session ended half-way would pass on 401s alone and prove nothing.
    still_in = server.me(token)
    assert still_in.status_code == 200, (
        f"the {role}'s session ended during the run ({still_in.text}):\n{report}"
    )
    server.stop()
