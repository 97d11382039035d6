"""The record-start domain: job model, Telnyx transport, retry policy, outcomes, producer."""
