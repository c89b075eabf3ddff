"""Events and session bundles: what a hosted viewer reports, for a notebook to follow."""
