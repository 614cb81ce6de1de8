"""Tests of the addons and their pure helpers."""
