"""``cellucid-cloud up``: the whole system on one machine (files + SQLite + one HTTP server)."""
