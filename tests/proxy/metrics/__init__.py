"""Tests of proxy/metrics."""
