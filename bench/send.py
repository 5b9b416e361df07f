"""How fast the app's send path delivers email, against raw aiosmtplib on the same sink.

Starts an aiosmtpd sink in a separate process on 127.0.0.1 and, interleaved, several times:

- raw, one connection: a plain aiosmtplib program builds each message with the standard
  library (`EmailMessage`) and sends it with `send_message` over one connection (the
  baseline issue 11 measured: 322/s there);
- raw, one connection per message: the same, connecting and quitting for each;
- raw, ready bytes: messages serialised before the clock starts, `sendmail` over one
  connection: SMTP alone, the strictest baseline;
- app: N emails queued in the outbox (mongomock), then the send job, in a process of its
  own, timed from the job's start to its end; it also counts database round trips.

It prints the medians (emails/s), the ratios app / each raw sender, and database round
trips per email.

    uv run python bench/send.py [--emails 1000] [--runs 5] [--project OTHER_CHECKOUT]

--project runs the app's side from another checkout (say, a `git archive` of main), for a
before/after comparison on the same machine in one sitting. The provider quota
(EMAIL_RATE_PER_SECOND) is lifted to its maximum: this measures the send path, not the cap.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiosmtplib

HOST = "127.0.0.1"
SENDER = "no-reply@schoolbell.local"
SUBJECT = "Школа 12: Экскурсия в пятницу"
TEXT = "Уважаемые родители! В пятницу 5А едет в музей. Сбор в 8:30 у школы.\n" * 12
HTML = "<p>Уважаемые родители! В пятницу 5А едет в музей. Сбор в 8:30 у школы.</p>\n" * 12
UNSUBSCRIBE = "<http://127.0.0.1:8000/unsubscribe?token=" + "a" * 220 + ">"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def start_sink(port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "aiosmtpd", "-n", "-c", "aiosmtpd.handlers.Sink"]
        + ["-l", f"{HOST}:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((HOST, port), timeout=1):
                return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the aiosmtpd sink did not start within 30 s")


def addresses(count: int) -> list[str]:
    return [f"parent{n}@bench.example.org" for n in range(count)]


def stdlib_message(recipient: str) -> Any:
    """The same kind of message as the app's, built the usual way with the standard library."""
    from email import policy
    from email.message import EmailMessage

    message = EmailMessage(policy=policy.default)
    message["From"] = f"Schoolbell <{SENDER}>"
    message["To"] = recipient
    message["Subject"] = SUBJECT
    message["List-Unsubscribe"] = UNSUBSCRIBE
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(TEXT)
    message.add_alternative(HTML, subtype="html")
    return message


async def raw_one_connection(port: int, recipients: list[str]) -> float:
    """Build each message with the standard library and send_message it, one connection."""
    started = time.perf_counter()
    smtp = aiosmtplib.SMTP(hostname=HOST, port=port)
    await smtp.connect()
    for recipient in recipients:
        await smtp.send_message(stdlib_message(recipient))
    await smtp.quit()
    return time.perf_counter() - started


async def raw_connection_per_message(port: int, recipients: list[str]) -> float:
    """The same, connecting and quitting for each message."""
    started = time.perf_counter()
    for recipient in recipients:
        smtp = aiosmtplib.SMTP(hostname=HOST, port=port)
        await smtp.connect()
        await smtp.send_message(stdlib_message(recipient))
        await smtp.quit()
    return time.perf_counter() - started


async def raw_ready_bytes(port: int, recipients: list[str]) -> float:
    """SMTP alone: messages serialised before the clock starts, one connection."""
    template = bytes(stdlib_message("RECIPIENT"))
    messages = [template.replace(b"RECIPIENT", r.encode()) for r in recipients]
    started = time.perf_counter()
    smtp = aiosmtplib.SMTP(hostname=HOST, port=port)
    await smtp.connect()
    for recipient, message in zip(recipients, messages, strict=True):
        await smtp.sendmail(SENDER, [recipient], message)
    await smtp.quit()
    return time.perf_counter() - started


# --- the app's side, run in its own process (possibly from another checkout) ----------------


async def app_run(count: int) -> dict[str, Any]:
    """Queue `count` emails straight into the outbox, then time one send job over them."""
    import inspect

    from _round_trips_counter import counting  # next to this script
    from mongomock_motor import AsyncMongoMockClient

    from app.core.db import init_database
    from app.delivery import service as delivery
    from app.delivery.models import Email, EmailKind
    from app.delivery.render import Rendered
    from app.documents import DOCUMENT_MODELS

    await init_database(AsyncMongoMockClient(tz_aware=True), "bench", DOCUMENT_MODELS)
    rendered = Rendered(subject=SUBJECT, text=TEXT, html=HTML)
    headers = {
        "List-Unsubscribe": UNSUBSCRIBE,
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    emails = [
        delivery.new_email(
            key=f"bench:{n}", kind=EmailKind.immediate, to=to, rendered=rendered, headers=headers
        ).model_dump(by_alias=True, exclude={"id"})
        for n, to in enumerate(addresses(count))
    ]
    await Email.get_motor_collection().insert_many(emails)
    # Older versions stop a job after a batch unless told to go on.
    kwargs = (
        {"limit": count} if "limit" in inspect.signature(delivery.send_emails).parameters else {}
    )
    with counting() as round_trips:
        started = time.perf_counter()
        result = await delivery.send_emails(**kwargs)
        seconds = time.perf_counter() - started
    # A count before send jobs reported delivered, deferred and lost.
    sent = getattr(result, "delivered", result)
    assert sent == count, f"the app sent {sent} of {count}"
    return {"seconds": seconds, "round_trips": sum(round_trips.values())}


def run_app(project: Path, port: int, count: int, data_dir: Path) -> dict[str, Any]:
    env = {
        **os.environ,
        "SMTP_HOST": HOST,
        "SMTP_PORT": str(port),
        "EMAIL_RATE_PER_SECOND": "10000",
        "SCHOOLBELL_DATA_DIR": str(data_dir),
    }
    for name in ("MONGODB_URL", "REDIS_URL", "SMTP_USER", "SMTP_PASSWORD"):
        env.pop(name, None)
    output = subprocess.run(
        ["uv", "run", "--quiet", "python", __file__, "--app-run", "--emails", str(count)],
        cwd=project,
        env=env,
        check=True,
        capture_output=True,
    )
    result: dict[str, Any] = json.loads(output.stdout.decode().strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emails", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--project", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--app-run", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.app_run:
        print(json.dumps(asyncio.run(app_run(arguments.emails))))
        return

    port = free_port()
    sink = start_sink(port)
    recipients = addresses(arguments.emails)
    times: dict[str, list[float]] = {"one": [], "per_message": [], "bytes": [], "app": []}
    trips: list[int] = []
    try:
        with tempfile.TemporaryDirectory() as data_dir:
            for run in range(1, arguments.runs + 1):
                times["one"].append(asyncio.run(raw_one_connection(port, recipients)))
                times["per_message"].append(
                    asyncio.run(raw_connection_per_message(port, recipients))
                )
                times["bytes"].append(asyncio.run(raw_ready_bytes(port, recipients)))
                app = run_app(arguments.project, port, arguments.emails, Path(data_dir))
                times["app"].append(app["seconds"])
                trips.append(app["round_trips"])
                print(
                    f"run {run}: "
                    + ", ".join(f"{name} {values[-1]:.2f} s" for name, values in times.items()),
                    file=sys.stderr,
                )
    finally:
        sink.terminate()
        sink.wait()

    rate = {name: arguments.emails / statistics.median(values) for name, values in times.items()}
    rows = [
        ("raw aiosmtplib, one connection", "one"),
        ("raw aiosmtplib, connection per message", "per_message"),
        ("raw aiosmtplib, ready bytes (SMTP alone)", "bytes"),
    ]
    print(f"{arguments.emails} emails, median of {arguments.runs} interleaved runs")
    for label, name in rows:
        print(f"  {label:<52} {rate[name]:7.0f} emails/s")
    print(f"  {'app send path (' + arguments.project.name + ')':<52} {rate['app']:7.0f} emails/s")
    for label, name in rows:
        print(f"  {'ratio app / ' + label:<54} {rate['app'] / rate[name]:5.2f}")
    per_email = statistics.median(trips) / arguments.emails
    print(f"  {'database round trips per email':<54} {per_email:5.3f}")


if __name__ == "__main__":
    main()
