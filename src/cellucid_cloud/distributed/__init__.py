"""The distributed export: one upload's export cut into blocks that run on many functions
(Plan, row blocks, gene blocks, Finalize: a Step Functions state machine on AWS), for uploads
too large for one function (``docs/export.md``, "The distributed export")."""
