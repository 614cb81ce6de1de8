"""Tests of proxy/fleet."""
