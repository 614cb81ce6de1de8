"""Leeway's test suite; it mirrors the packages."""
