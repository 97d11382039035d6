"""Publishing jobs to the broker: the only domain modules that speak Celery and kombu."""
