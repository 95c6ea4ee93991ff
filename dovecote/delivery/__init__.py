"""Durable delivery: the outbox, workers, retries."""
