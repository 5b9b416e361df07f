"""The Celery app: Redis broker from REDIS_URL (in-memory when unset), explicit queues.

Run it with `schoolbell worker` / `schoolbell beat`, or
`celery -A workers.celery_app worker -Q fanout,default` and `celery -A workers.celery_app beat`.
"""

from __future__ import annotations

from celery import Celery
from kombu import Exchange, Queue

from app.core.config import Settings, get_settings
from app.core.jobs import DEFAULT_QUEUE, EMAIL_QUEUE, FANOUT_QUEUE, JOBS
from workers.memory_broker import TRANSPORT as MEMORY_TRANSPORT
from workers.schedule import BEAT_SCHEDULE
from workers.tasks import register_tasks

QUEUES = (FANOUT_QUEUE, DEFAULT_QUEUE, EMAIL_QUEUE)


def create_celery(settings: Settings) -> Celery:
    # A host is named, or kombu warns at every start that it reverts to localhost.
    broker = settings.redis_url or "memory://localhost/"
    celery_app = Celery("schoolbell", broker=broker)
    celery_app.conf.update(
        # Each queue its own exchange and routing key; left out, all three are bound to
        # one shared default key, which leaves routing to chance.
        task_queues=[
            Queue(name, Exchange(name, type="direct"), routing_key=name) for name in QUEUES
        ],
        task_default_queue=DEFAULT_QUEUE,
        # Beat sends by name only; routes put each job on its queue wherever it comes from.
        task_routes={name: {"queue": queue} for name, (queue, _function) in JOBS.items()},
        # A task is acknowledged only when it finished, and a worker killed mid-task puts
        # it back on the queue: every job is idempotent, so running it again is safe.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        # A publish waits for a broker that is down for one quick retry, not for kombu's
        # default of seconds: the API keeps the job in its outbox and the relay sends it.
        broker_transport_options={
            "max_retries": 1,
            "interval_start": 0,
            "interval_step": 0.2,
            # The in-memory broker (dev) is polled: every 50 ms rather than every second, so
            # a grade's fan-out starts at once (a check of a dict in the same process).
            **({} if settings.redis_url else {"polling_interval": 0.05}),
        },
        # Without Redis, kombu's in-memory broker, waiting in rounds short enough for a
        # stop to be seen at once (see workers/memory_broker.py).
        broker_transport=None if settings.redis_url else MEMORY_TRANSPORT,
        beat_schedule=BEAT_SCHEDULE,
        timezone="UTC",
        enable_utc=True,
    )
    register_tasks(celery_app)
    return celery_app


celery_app = create_celery(get_settings())
