"""The names client generators build on: operation ids pinned, schema names a client would
choose, every tag described, the server and whom to ask."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from mongomock_motor import AsyncMongoMockClient

from app.core.openapi import api_routes, tidy_openapi
from app.core.openapi_contract import ContractError, check_routes
from app.main import create_app
from tests.conftest import make_settings

# Every operation's id, as generated clients name their functions after it: an id changed
# here breaks every client built before, so it changes only on purpose.
OPERATION_IDS = {
    ("GET", "/health"): "getHealth",
    ("GET", "/ready"): "getReadiness",
    ("POST", "/api/v1/auth/register"): "register",
    ("POST", "/api/v1/auth/verify-email"): "verifyEmail",
    ("POST", "/api/v1/auth/login"): "login",
    ("POST", "/api/v1/auth/refresh"): "refreshTokens",
    ("POST", "/api/v1/auth/logout"): "logout",
    ("POST", "/api/v1/auth/password-reset/request"): "requestPasswordReset",
    ("POST", "/api/v1/auth/password-reset/confirm"): "confirmPasswordReset",
    ("GET", "/api/v1/users/me"): "getMe",
    ("PATCH", "/api/v1/users/me"): "updateMe",
    ("POST", "/api/v1/users"): "createUser",
    ("GET", "/api/v1/users"): "listUsers",
    ("GET", "/api/v1/users/{user_id}"): "getUser",
    ("PATCH", "/api/v1/users/{user_id}"): "updateUser",
    ("DELETE", "/api/v1/users/{user_id}"): "deleteUser",
    ("POST", "/api/v1/users/{user_id}/password-reset"): "sendPasswordReset",
    ("POST", "/api/v1/users/{user_id}/invite"): "sendInvitation",
    ("POST", "/api/v1/schools"): "createSchool",
    ("GET", "/api/v1/schools"): "listSchools",
    ("GET", "/api/v1/schools/{school_id}"): "getSchool",
    ("DELETE", "/api/v1/schools/{school_id}"): "deleteSchool",
    ("PATCH", "/api/v1/schools/{school_id}"): "updateSchool",
    ("POST", "/api/v1/schools/{school_id}/classes"): "createClass",
    ("GET", "/api/v1/schools/{school_id}/classes"): "listClasses",
    ("GET", "/api/v1/schools/{school_id}/classes/{class_id}"): "getClass",
    ("PATCH", "/api/v1/schools/{school_id}/classes/{class_id}"): "updateClass",
    ("DELETE", "/api/v1/schools/{school_id}/classes/{class_id}"): "deleteClass",
    (
        "PUT",
        "/api/v1/schools/{school_id}/classes/{class_id}/students/{student_id}",
    ): "addStudentToClass",
    (
        "DELETE",
        "/api/v1/schools/{school_id}/classes/{class_id}/students/{student_id}",
    ): "removeStudentFromClass",
    ("GET", "/api/v1/schools/{school_id}/classes/{class_id}/students"): "listClassStudents",
    (
        "PUT",
        "/api/v1/schools/{school_id}/classes/{class_id}/teachers/{teacher_id}",
    ): "assignTeacher",
    (
        "DELETE",
        "/api/v1/schools/{school_id}/classes/{class_id}/teachers/{teacher_id}",
    ): "unassignTeacher",
    ("POST", "/api/v1/students/{student_id}/guardian-codes"): "issueGuardianCode",
    ("POST", "/api/v1/users/me/children"): "redeemGuardianCode",
    ("GET", "/api/v1/users/me/children"): "listChildren",
    ("DELETE", "/api/v1/users/me/children/{student_id}"): "removeChild",
    ("DELETE", "/api/v1/students/{student_id}/guardians/{parent_id}"): "unlinkGuardian",
    ("GET", "/api/v1/students/{student_id}/guardians"): "listGuardians",
    ("GET", "/api/v1/schools/{school_id}/subjects"): "listSubjects",
    ("PUT", "/api/v1/schools/{school_id}/subjects"): "replaceSubjects",
    ("GET", "/api/v1/users/me/preferences"): "getPreferences",
    ("PUT", "/api/v1/users/me/preferences"): "replacePreferences",
    ("PATCH", "/api/v1/users/me/preferences"): "updatePreferences",
    ("GET", "/api/v1/subscriptions"): "listSubscriptions",
    ("POST", "/api/v1/subscriptions"): "createSubscription",
    ("DELETE", "/api/v1/subscriptions/{subscription_id}"): "deleteSubscription",
    ("GET", "/api/v1/notifications"): "listNotifications",
    ("GET", "/api/v1/notifications/unread-count"): "getUnreadCount",
    ("POST", "/api/v1/notifications/read-all"): "markAllNotificationsRead",
    ("POST", "/api/v1/notifications/{notification_id}/read"): "markNotificationRead",
    ("POST", "/api/v1/grades"): "createGrade",
    ("POST", "/api/v1/grades/batch"): "createGradeBatch",
    ("GET", "/api/v1/schools/{school_id}/classes/{class_id}/gradebook"): "getGradebook",
    ("PATCH", "/api/v1/grades/{grade_id}"): "updateGrade",
    ("DELETE", "/api/v1/grades/{grade_id}"): "deleteGrade",
    ("GET", "/api/v1/students/{student_id}/grades"): "listGrades",
    ("GET", "/api/v1/students/{student_id}/grades/summary"): "getGradeSummary",
    ("GET", "/api/v1/users/me/children/{student_id}/alerts"): "getGradeAlerts",
    ("PUT", "/api/v1/users/me/children/{student_id}/alerts"): "replaceGradeAlerts",
    ("POST", "/api/v1/announcements"): "createAnnouncement",
    ("GET", "/api/v1/announcements"): "listAnnouncements",
    ("GET", "/api/v1/announcements/{announcement_id}"): "getAnnouncement",
    ("DELETE", "/api/v1/announcements/{announcement_id}"): "cancelAnnouncement",
    ("GET", "/api/v1/announcements/{announcement_id}/emails"): "listAnnouncementEmails",
    ("POST", "/api/v1/announcements/{announcement_id}/ack"): "acknowledgeAnnouncement",
    ("GET", "/api/v1/announcements/{announcement_id}/acks"): "listAcknowledgements",
    ("GET", "/api/v1/announcements/{announcement_id}/acks.{kind}"): "exportAcknowledgements",
    ("POST", "/api/v1/announcements/{announcement_id}/remind"): "remindUnacknowledged",
    ("POST", "/api/v1/events"): "createEvent",
    ("GET", "/api/v1/events"): "listEvents",
    ("GET", "/api/v1/events/{event_id}"): "getEvent",
    ("PATCH", "/api/v1/events/{event_id}"): "updateEvent",
    ("DELETE", "/api/v1/events/{event_id}"): "cancelEvent",
    ("PUT", "/api/v1/events/{event_id}/rsvp"): "answerEvent",
    ("GET", "/api/v1/events/{event_id}/rsvps"): "listEventAnswers",
    ("GET", "/api/v1/events/{event_id}/rsvps.csv"): "exportEventAnswersCsv",
    ("GET", "/api/v1/events/{event_id}/rsvps.xlsx"): "exportEventAnswersXlsx",
    ("GET", "/api/v1/users/me/calendar"): "getMyCalendar",
    ("POST", "/api/v1/users/me/calendar"): "renewMyCalendar",
    ("GET", "/api/v1/calendar/{token}.ics"): "getCalendarFeed",
    ("PUT", "/api/v1/schools/{school_id}/classes/{class_id}/timetable"): "replaceTimetable",
    ("GET", "/api/v1/schools/{school_id}/classes/{class_id}/timetable"): "getTimetable",
    (
        "POST",
        "/api/v1/schools/{school_id}/classes/{class_id}/timetable/changes",
    ): "createTimetableChange",
    ("GET", "/api/v1/students/{student_id}/timetable"): "getStudentTimetable",
    ("GET", "/api/v1/teachers/{teacher_id}/timetable"): "getTeacherTimetable",
    ("POST", "/api/v1/homework"): "createHomework",
    ("PATCH", "/api/v1/homework/{homework_id}"): "updateHomework",
    ("DELETE", "/api/v1/homework/{homework_id}"): "deleteHomework",
    ("GET", "/api/v1/students/{student_id}/homework"): "listHomework",
    ("PUT", "/api/v1/schools/{school_id}/classes/{class_id}/attendance/{date}"): "markAttendance",
    ("GET", "/api/v1/students/{student_id}/attendance"): "getStudentAttendance",
    ("POST", "/api/v1/students/{student_id}/absence-notes"): "sendAbsenceNote",
    ("PATCH", "/api/v1/absence-notes/{note_id}"): "decideAbsenceNote",
    ("POST", "/api/v1/conversations"): "startConversation",
    ("GET", "/api/v1/conversations"): "listConversations",
    ("GET", "/api/v1/conversations/{conversation_id}/messages"): "listMessages",
    ("POST", "/api/v1/conversations/{conversation_id}/messages"): "sendMessage",
    ("POST", "/api/v1/conversations/{conversation_id}/read"): "markConversationRead",
    ("GET", "/api/v1/stats"): "getStats",
    ("GET", "/api/v1/emails"): "listEmails",
    ("POST", "/api/v1/emails/retry"): "retryEmails",
    ("POST", "/api/v1/emails/{email_id}/retry"): "retryEmail",
    ("GET", "/api/v1/users/me/classes"): "listMyClasses",
    ("POST", "/api/v1/schools/{school_id}/import"): "importPeople",
}


@pytest.fixture
def spec(app: FastAPI) -> dict[str, Any]:
    return app.openapi()


def operation_ids(spec: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {
        (method.upper(), path): operation["operationId"]
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
    }


def test_every_operation_keeps_its_pinned_id(spec: dict[str, Any]) -> None:
    assert operation_ids(spec) == OPERATION_IDS


def test_operation_ids_are_short_unique_lower_camel_case(spec: dict[str, Any]) -> None:
    ids = list(operation_ids(spec).values())
    assert len(ids) == len(set(ids))
    assert [i for i in ids if not re.fullmatch(r"[a-z][a-zA-Z0-9]{1,29}", i)] == []


def test_renaming_an_endpoint_function_renames_no_operation(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path), mongo_client=AsyncMongoMockClient(tz_aware=True))
    for route in api_routes(app.router.routes):
        route.name = f"renamed_{route.name}"
    assert operation_ids(app.openapi()) == OPERATION_IDS


def _route(path: str, operation_id: str | None, tag: str = "grades") -> APIRoute:
    router = APIRouter(tags=[tag])

    async def endpoint() -> None:
        return None

    router.add_api_route(path, endpoint, methods=["GET"], operation_id=operation_id)
    route = router.routes[0]
    assert isinstance(route, APIRoute)
    return route


@pytest.mark.parametrize(
    ("routes", "complaint"),
    [
        ([_route("/a", None)], "GET /a has no operation_id"),
        ([_route("/a", "list_grades")], "'list_grades' is not lower camel case"),
        ([_route("/a", "listGrades"), _route("/b", "listGrades")], "is GET /a's too"),
        ([_route("/a", "listTrips", tag="trips")], "tag 'trips' has no description"),
    ],
)
def test_an_app_with_a_route_that_has_no_stable_id_does_not_start(
    routes: list[APIRoute], complaint: str
) -> None:
    with pytest.raises(ContractError, match=re.escape(complaint)):
        check_routes(routes)
    app = FastAPI()
    app.router.routes.extend(routes)
    with pytest.raises(ContractError, match=re.escape(complaint)):
        tidy_openapi(app)


def test_schemas_have_names_a_client_would_choose(spec: dict[str, Any]) -> None:
    names = set(spec["components"]["schemas"])
    assert [name for name in names if not re.fullmatch(r"[A-Z][A-Za-z0-9]*", name)] == []
    assert {"LoginForm", "ImportPeopleForm", "NotificationPage", "GradePage"} <= names
    login = spec["paths"]["/api/v1/auth/login"]["post"]["requestBody"]["content"]
    assert login["application/x-www-form-urlencoded"]["schema"] == {
        "$ref": "#/components/schemas/LoginForm"
    }
    inbox = spec["paths"]["/api/v1/notifications"]["get"]["responses"]["200"]["content"]
    assert inbox["application/json"]["schema"] == {"$ref": "#/components/schemas/NotificationPage"}
    # An answer with fields is a named schema, never one a generator names after the route.
    inline = [
        (method, path)
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        for answer in operation["responses"].values()
        for body in answer.get("content", {}).values()
        if body.get("schema", {}).get("type") == "object" or "properties" in body.get("schema", {})
    ]
    assert inline == []
    # One frequency type for every topic, not one enum per topic named after it.
    email = spec["components"]["schemas"]["Preferences"]["properties"]["email"]["properties"]
    assert {topic["$ref"] for topic in email.values()} == {"#/components/schemas/EmailFrequency"}


def test_every_tag_an_operation_uses_is_listed_with_a_description(spec: dict[str, Any]) -> None:
    listed = {tag["name"]: tag["description"] for tag in spec["tags"]}
    used = {
        tag
        for operations in spec["paths"].values()
        for operation in operations.values()
        for tag in operation["tags"]
    }
    assert used == set(listed)
    assert all(len(description) > 20 for description in listed.values())


def test_the_server_is_the_public_base_url_and_the_document_says_whom_to_ask(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path, public_base_url="https://diary.school57.example.org")
    app = create_app(settings, mongo_client=AsyncMongoMockClient(tz_aware=True))
    spec = app.openapi()
    assert spec["servers"] == [
        {
            "url": "https://diary.school57.example.org",
            "description": "This deployment (its PUBLIC_BASE_URL)",
        }
    ]
    assert spec["info"]["contact"]["url"] == "https://diary.school57.example.org/"
    assert spec["info"]["license"]["name"]
