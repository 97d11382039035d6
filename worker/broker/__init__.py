"""The kombu broker extension: reliable fetch on Redis and Sentinel, and the heartbeat
that hands a dead consumer's in-flight messages back."""
