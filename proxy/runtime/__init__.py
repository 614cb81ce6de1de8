"""What runs inside a proxy process: serving, caches, background tasks, recording."""
