"""Whether an invocation is a schedule's rather than an API request's.

Two kinds of schedule invoke the functions (template.yaml):

- an EventBridge rule (SAM ``Type: Schedule``) delivers its own event: ``"source": "aws.events"``,
  ``"detail-type": "Scheduled Event"`` (events/refresh_jobs_schedule.json);
- an EventBridge Scheduler schedule (SAM ``Type: ScheduleV2``) delivers the ``Input`` the template
  gives it, written in the same shape with ``"source": "aws.scheduler"``
  (events/instagram_fetch_schedule.json).

An API Gateway event carries neither key, so it is never taken for a schedule.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SCHEDULE_SOURCES = frozenset({"aws.events", "aws.scheduler"})
SCHEDULED_EVENT = "Scheduled Event"


def is_schedule(event: Mapping[str, Any]) -> bool:
    return event.get("source") in SCHEDULE_SOURCES and event.get("detail-type") == SCHEDULED_EVENT
