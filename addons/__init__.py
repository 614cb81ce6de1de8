"""Thin mitmproxy addons: identify, decide, enforce, record. One concept per module."""
