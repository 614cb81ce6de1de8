"""Tests of what operations deploys: Prometheus configuration, alert rules, Grafana dashboard."""
