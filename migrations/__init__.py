"""Alembic migrations for Leeway's store, shipped in the package so `leeway db upgrade` works."""
