"""The adapter between the catalog's processing and the export engine: an untrusted upload is
checked (:mod:`.upload_checks`), then prepared (:func:`.engine.check_and_prepare`, the
processing port's implementation on every host)."""
