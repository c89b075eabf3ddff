"""cellucid-cloud."""
