"""Object storage: where uploads arrive and exports are published (S3, or a local folder)."""
