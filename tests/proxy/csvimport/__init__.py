"""Tests of proxy/csvimport."""
