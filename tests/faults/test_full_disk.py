"""`schoolbell dev` as a real process on a real 3 MB filesystem (a tmpfs) that fills up:
grades are posted until the disk refuses one, space is freed, ten more are posted, and dev
is killed with SIGKILL and started again. Prints what it measured: acknowledged, lost,
duplicated. Needs root to mount the filesystem; skips, saying so, where it cannot."""

from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import SmtpServer
from tests.dev_server import DevServer
from tests.faults.test_dev_crashes import ADMIN, PASSWORD, build_school, dev, students, wait_until

pytestmark = pytest.mark.slow

DISK_BYTES = 3 * 1024 * 1024


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A filesystem of 3 MB of its own, mounted for the test."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    if os.geteuid() != 0:
        pytest.skip("a 3 MB filesystem for the full-disk test needs root to mount a tmpfs")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES}", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small filesystem here: {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(disk: Path, name: str = "filler") -> Path:
    """Take every byte left on `disk` with one new file; returns it."""
    filler = disk / name
    with open(filler, "wb", buffering=0) as handle:
        for chunk in (65536, 4096, 512, 64, 1):
            while True:
                try:
                    handle.write(b"\0" * chunk)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC, exc
                    break
    return filler


class School:
    def __init__(self, server: DevServer) -> None:
        self.server = server
        self.headers = {"Authorization": f"Bearer {server.token(ADMIN, PASSWORD)}"}
        school = httpx.get(f"{server.base}/api/v1/schools", headers=self.headers, timeout=30)
        first = school.json()["items"][0]
        self.class_id = first["classes"][0]["id"]
        self.student_id = first["classes"][0]["student_ids"][0]

    def post_grade(self, comment: str) -> httpx.Response:
        return httpx.post(
            f"{self.server.base}/api/v1/grades",
            json={
                "student_id": self.student_id,
                "class_id": self.class_id,
                "subject": "math",
                "value": 4,
                "comment": comment,
            },
            headers=self.headers,
            timeout=30,
        )

    def grade_comments(self) -> list[str]:
        response = httpx.get(
            f"{self.server.base}/api/v1/students/{self.student_id}/grades?limit=200",
            headers=self.headers,
            timeout=30,
        )
        assert response.status_code == 200, response.text
        return [g["comment"] for g in response.json()["items"]]


def mails_to(smtp: SmtpServer, address: str) -> list[Any]:
    return [e for e in smtp.envelopes if address in e.rcpt_tos]


def student_notices(server: DevServer, token: str) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{server.base}/api/v1/notifications?limit=200",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def test_a_full_disk_refuses_writes_with_503_and_loses_no_acknowledged_grade(
    workdir: Path,
    small_disk: Path,
    smtp_server: SmtpServer,
    servers: list[DevServer],
) -> None:
    data_dir = build_school(small_disk, 3)
    first = dev(workdir, data_dir, smtp_server)
    servers.append(first)
    school = School(first)
    acknowledged: list[str] = []
    for n in range(5):
        assert school.post_grade(f"grade {n}").status_code == 201
        acknowledged.append(f"grade {n}")

    filler = fill(small_disk)
    refused: httpx.Response | None = None
    for n in range(5, 200):
        response = school.post_grade(f"grade {n}")
        if response.status_code == 201:
            acknowledged.append(f"grade {n}")
            continue
        refused = response
        break
    assert refused is not None, "the full disk never refused a write"
    assert refused.status_code == 503, refused.text
    assert int(refused.headers["Retry-After"]) > 0
    assert "\n" not in refused.json()["detail"]
    # A refused record gives back the pages it had begun to take, and a smaller record
    # may still fit in the journal's last page: take those pages again, and post until
    # three writes in a row are refused, keeping any the last page still took.
    refill = fill(small_disk, "refill")
    refused_in_a_row = 0
    for n in range(200, 300):
        response = school.post_grade(f"grade {n}")
        if response.status_code == 201:
            acknowledged.append(f"grade {n}")
            refused_in_a_row = 0
            continue
        assert response.status_code == 503, response.text
        refused_in_a_row += 1
        if refused_in_a_row == 3:
            break
    assert refused_in_a_row == 3, "the full disk kept taking writes"
    ready = httpx.get(f"{first.base}/ready", timeout=10)
    assert ready.status_code == 503 and "storage" in ready.json()["down"], ready.text
    assert "No space left on device" in ready.json()["detail"]
    assert sorted(school.grade_comments()) == sorted(acknowledged)  # reads go on

    filler.unlink()  # space returns, well within the 30 s between saves; no restart
    refill.unlink()
    before_space_returned = len(acknowledged)
    for n in range(300, 310):
        response = school.post_grade(f"grade {n}")
        assert response.status_code == 201, response.text
        acknowledged.append(f"grade {n}")
    assert httpx.get(f"{first.base}/ready", timeout=10).status_code == 200
    assert sorted(school.grade_comments()) == sorted(acknowledged)
    # The fan-outs the full disk stopped run again now, not after a 10-minute lease.
    student = first.token(students(3)[0], PASSWORD)
    resumed = wait_until(lambda: len(student_notices(first, student)) >= len(acknowledged), 60)
    wait_until(lambda: len(mails_to(smtp_server, students(3)[0])) >= len(acknowledged), 60)

    first.stop(signal.SIGKILL)
    output = first.output()
    second = dev(workdir, data_dir, smtp_server)
    servers.append(second)
    kept = Counter(School(second).grade_comments())
    lost = len(set(acknowledged) - set(kept))
    duplicated = sum(n - 1 for n in kept.values() if n > 1)
    student = second.token(students(3)[0], PASSWORD)
    notices = Counter(n["data"].get("grade_id") for n in student_notices(second, student))
    time.sleep(3)  # an email sent again after the restart would arrive in this time
    mails = len(mails_to(smtp_server, students(3)[0]))
    print(
        f"\nfull disk: {len(acknowledged)} grades acknowledged ({before_space_returned} while "
        f"the disk filled, 10 after space returned); lost {lost}, duplicated {duplicated}, "
        f"{len(kept) - len(acknowledged)} unacknowledged kept; notices for all within "
        f"{resumed:.1f} s of space returning, {sum(notices.values())} notices for "
        f"{len(notices)} grades; {mails} emails for them"
    )
    assert lost == 0
    assert duplicated == 0
    assert sorted(notices.values()) == [1] * len(acknowledged)
    assert mails == len(acknowledged)
    assert set(kept) == set(acknowledged)
    # One line when writes are refused and one when they are taken again: a disk that
    # is nearly full may refuse, take a small write, and refuse again, but never a line
    # per request.
    refusals = len(re.findall(r"cannot be written", output))
    assert 1 <= refusals == len(re.findall(r"can be written again", output)) <= 3, output
    assert "Traceback" not in output
    assert "Traceback" not in second.output()
    assert "cannot be read" not in second.output()
    assert second.stop() == 0
