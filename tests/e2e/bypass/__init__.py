"""An attacker's techniques against a running proxy (issue 9), one open table per class.

Every table is a list of `technique.Technique` rows (what is sent, the answer it must get,
what the recording site behind the proxy may have seen), tried by the one runner,
`technique.attempt`: test_raw_tunnel (class 1: raw bytes through a tunnel to a named
site), test_destinations (class 2: the proxy's own host and loopback, in every spelling),
test_overrides (class 3: method override headers) and test_requests (requests shaped to
slip past a decision). Add the next technique as one more row of the table it belongs to.
Classes without rows here, each proven by its own test: refused uploads held in memory
(tests/e2e/test_uploads.py, which reads the proxy's memory) and an error in an addon
(tests/e2e/test_chain_failure.py, a proxy with a part that raises).
"""
