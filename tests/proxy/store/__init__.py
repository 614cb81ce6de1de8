"""Tests of the SQLAlchemy store."""
