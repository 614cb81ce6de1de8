"""Tests of the pure policy core."""
