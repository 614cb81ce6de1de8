"""End-to-end tests: a real `leeway run` process, local origins and real clients."""
