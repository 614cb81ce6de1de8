"""Tests of proxy/commands."""
