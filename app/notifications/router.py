"""Preferences, subscriptions and the in-app inbox."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from app.auth.access import CurrentUser
from app.core.db import parse_object_id
from app.core.pagination import Page, PageParams, page_params
from app.notifications import service
from app.notifications.access import FollowableTarget
from app.notifications.preferences import Preferences, PreferencesPatch
from app.notifications.schemas import (
    NotificationOut,
    SubscriptionOut,
    UnreadCount,
)
from app.notifications.topics import AnyTopic

router = APIRouter()
Paging = Annotated[PageParams, Depends(page_params)]


@router.get("/users/me/preferences", operation_id="getPreferences", tags=["preferences"])
async def get_preferences(user: CurrentUser) -> Preferences:
    """Your notification preferences."""
    return await service.preferences_of(user)


@router.put("/users/me/preferences", operation_id="replacePreferences", tags=["preferences"])
async def put_preferences(user: CurrentUser, body: Preferences) -> Preferences:
    """Replace all your preferences; omitted fields take their defaults."""
    return await service.replace_preferences(user=user, preferences=body)


@router.patch("/users/me/preferences", operation_id="updatePreferences", tags=["preferences"])
async def patch_preferences(user: CurrentUser, body: PreferencesPatch) -> Preferences:
    """Change some preferences; email and in-app topics merge one by one."""
    return await service.patch_preferences(user=user, patch=body)


@router.get("/subscriptions", operation_id="listSubscriptions", tags=["subscriptions"])
async def list_subscriptions(user: CurrentUser, paging: Paging) -> Page[SubscriptionOut]:
    """What you follow."""
    rows, cursor = await service.list_subscriptions(
        user=user, limit=paging.limit, cursor=paging.cursor
    )
    return Page(items=[SubscriptionOut.of(s) for s in rows], next_cursor=cursor)


@router.post(
    "/subscriptions",
    operation_id="createSubscription",
    status_code=status.HTTP_201_CREATED,
    tags=["subscriptions"],
    responses={
        200: {
            "description": "Already subscribed: the existing subscription",
            "model": SubscriptionOut,
        }
    },
)
async def create_subscription(
    user: CurrentUser, target: FollowableTarget, response: Response
) -> SubscriptionOut:
    """Follow a student, a class or a school you belong to."""
    subscription, created = await service.subscribe(user=user, target=target)
    if not created:
        response.status_code = status.HTTP_200_OK
    return SubscriptionOut.of(subscription)


@router.delete(
    "/subscriptions/{subscription_id}",
    operation_id="deleteSubscription",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["subscriptions"],
)
async def delete_subscription(user: CurrentUser, subscription_id: str) -> None:
    """Stop following."""
    await service.delete_subscription(
        user=user, subscription_id=parse_object_id(subscription_id, what="Subscription")
    )


@router.get("/notifications", operation_id="listNotifications", tags=["notifications"])
async def list_notifications(
    user: CurrentUser,
    paging: Paging,
    unread_only: Annotated[bool, Query(description="Only what is not read yet")] = False,
    topic: Annotated[AnyTopic | None, Query(description="Only this topic")] = None,
) -> Page[NotificationOut]:
    """Your inbox, newest first."""
    rows, cursor = await service.list_inbox(
        user=user,
        unread_only=unread_only,
        topic=topic,
        limit=paging.limit,
        cursor=paging.cursor,
    )
    return Page(items=[NotificationOut.of(n) for n in rows], next_cursor=cursor)


@router.get("/notifications/unread-count", operation_id="getUnreadCount", tags=["notifications"])
async def get_unread_count(user: CurrentUser) -> UnreadCount:
    """How many inbox notifications you have not read."""
    return UnreadCount(count=await service.unread_count(user=user))


@router.post(
    "/notifications/read-all",
    operation_id="markAllNotificationsRead",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["notifications"],
)
async def read_all(user: CurrentUser) -> None:
    """Mark your whole inbox read."""
    await service.mark_all_read(user=user)


@router.post(
    "/notifications/{notification_id}/read",
    operation_id="markNotificationRead",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["notifications"],
)
async def read_one(user: CurrentUser, notification_id: str) -> None:
    """Mark one of your notifications read."""
    await service.mark_read(
        user=user, notification_id=parse_object_id(notification_id, what="Notification")
    )
