"""Local stacks of real processes (Redis, RabbitMQ, Sentinel, simulator, workers) for the
demo, the tests and the benchmarks. Not used by a production deployment."""
