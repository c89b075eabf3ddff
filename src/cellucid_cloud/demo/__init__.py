"""Demo data and the one-command demo (`python -m cellucid_cloud.demo`)."""
