"""The audit trail: access events, queued off the event loop, journalled, written, retained."""
