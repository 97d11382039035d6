"""What the tests share: the running system's handles, serve and Flower helpers, waits."""
