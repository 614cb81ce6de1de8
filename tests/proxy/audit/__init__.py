"""Tests of proxy/audit."""
