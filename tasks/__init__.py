"""The record-start domain: job model, Telnyx transport, retry policy, the task's body and
outcomes. ``publishing`` puts jobs on the broker; ``store`` is every Redis structure."""
