"""`leeway run --workers N`: the supervisor, its member processes and their summed metrics."""
