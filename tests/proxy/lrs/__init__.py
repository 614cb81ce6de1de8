"""Tests of proxy/lrs."""
