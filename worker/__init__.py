"""The process side of confrec: the Celery app, the CLI, bulk files, local stacks."""
