"""An attacker's techniques against a running proxy, one open table per class of them."""
