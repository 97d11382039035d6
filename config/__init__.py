"""Configuration: the one Settings object and the names of every Redis key confrec writes."""
