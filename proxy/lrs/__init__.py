"""Training from the learning record store: xAPI statements read into completions."""
