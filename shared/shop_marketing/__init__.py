"""The Lambda layer shared by every function: configuration, database, models, OpenAI adapter,
token counting, errors, observability and the services that hold the business rules."""
