"""Tests of the application: command line, settings, imports."""
