"""User-facing errors.

Anything a user can cause (a bad flag, a missing file, a malformed record, an unknown model) raises
`AccordError`. The command line prints its message as one line and exits with status 2; no traceback.
"""


class AccordError(Exception):
    """An error caused by input: printed as one line by the CLI, exit status 2."""
