"""Tests of proxy/directory."""
