"""The application core's shared parts: the errors every service raises, and the rules both the
core and the export engine follow. The domain itself is ``catalog`` and ``events``
(docs/architecture.md)."""
