"""The one family of exceptions whose message is meant for the person who typed the command.

Anything raised while handling a command that is *not* an `OpsbotError` is a bug: the engine logs
it with its traceback and tells the person only that the command failed and nothing was written.
"""


class OpsbotError(Exception):
    """A refusal the person can act on: `message` says what was wrong, `hint` what to type."""

    code = "error"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(OpsbotError):
    """The words do not fit the command's grammar; the reply carries the usage line (the
    command's own, or `usage` where the grammar is data: a runbook's parameters)."""

    code = "usage"

    def __init__(self, message: str, *, hint: str | None = None, usage: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.usage = usage


class UnknownCommand(OpsbotError):
    code = "unknown_command"


class NotFound(OpsbotError):
    """An app, environment, commit or command that does not exist."""

    code = "not_found"


class Forbidden(OpsbotError):
    code = "forbidden"


class RateLimited(OpsbotError):
    """Too many commands from one person: try again later (not a question of permission)."""

    code = "rate_limited"


class Refused(OpsbotError):
    """The command is well-formed and allowed, but the state forbids it now (a freeze, ...)."""

    code = "refused"


class OutsideCommits(Refused):
    """Main holds commits no trusted key signed: nothing is written on top until an admin
    adopts or discards them."""

    code = "outside_commits"


class TooLong(OpsbotError):
    code = "too_long"


class InvalidRecord(OpsbotError):
    """A file in the state repo that does not validate; names the file and the field."""

    code = "invalid_record"

    def __init__(self, path: str, field: str | None, problem: str) -> None:
        where = f"{path}: {field}" if field else path
        super().__init__(f"{where}: {problem}", hint=f"fix {path} in the state repo")
        self.path = path
        self.field = field
        self.problem = problem
