"""The catalog: collections, datasets, their versions, and what an explorer URL points at."""
