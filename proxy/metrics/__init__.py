"""Leeway's Prometheus metrics: what the addons count and what the store is read for at scrape."""
