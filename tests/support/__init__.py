"""What the tests share: the running system's handles, serve, webhook and Flower helpers,
the simulator in a thread and its webhooks, jobs, the kombu contract's parts, waits."""
