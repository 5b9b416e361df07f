"""What a producer package plugs into the app: its topics, its documents and its routes.

Each producer declares one `Producer` in its own package (`app/<producer>/producer.py`) and
the entry points list them once (app/producers.py); the database, the API, the workers and
the topic registry all follow that list, so a new producer edits no file of the engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from beanie import Document
from fastapi import APIRouter

from app.notifications.topics import TopicDeclaration


@dataclass(frozen=True)
class Producer:
    name: str
    topics: Sequence[TopicDeclaration] = ()
    documents: Sequence[type[Document]] = ()
    # Mounted under /api/v1, in this order.
    routers: Sequence[APIRouter] = ()
    # Pages people open from its emails, mounted at the site root (section 7 of product.md).
    pages: Sequence[APIRouter] = ()
