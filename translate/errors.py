"""The one exception type for mistakes a user can make (bad files, bad options, bad checkpoints)."""


class UserError(Exception):
    """A problem the user can fix; the CLI prints it as one line and exits non-zero."""
