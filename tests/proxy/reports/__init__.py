"""Tests of proxy/reports."""
