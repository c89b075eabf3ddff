"""The one exception type the export engine raises for bad input or unwritable output."""


class PrepareError(Exception):
    """A problem the user can act on; the CLI prints its message as one line and exits 1."""


def one_line(error: BaseException) -> str:
    """An exception as one line: its type and the first line of its message."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}".rstrip(": ")
