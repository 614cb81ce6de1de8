"""Leeway's application: settings, the SQLAlchemy store, the command line and wiring."""
