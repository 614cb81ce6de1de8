"""Tests of proxy/runtime."""
