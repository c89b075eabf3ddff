"""The one exception type the export engine raises for bad input or unwritable output."""


class PrepareError(Exception):
    """A problem the user can act on; the CLI prints its message as one line and exits 1."""
