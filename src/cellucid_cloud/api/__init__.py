"""The HTTP API: meta lookups, collections, curation, ``/_cellucid/*`` (one FastAPI app)."""
