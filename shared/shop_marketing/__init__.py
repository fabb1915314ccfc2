"""The Lambda layer shared by every function: configuration, database, models, OpenAI adapter,
token counting, errors, observability and the services that hold the business rules."""

from . import lifecycle  # noqa: F401,E402 - registers the SnapStart hooks in every function
