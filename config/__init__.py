"""Configuration: the one Settings object, read from the environment."""
