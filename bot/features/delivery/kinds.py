"""The kind of argument delivery's commands take beside the core's: a proposal's number."""

from bot.engine.kinds import ArgError, ArgKind, whole_number


def proposal(value: str) -> int:
    digits = value.removeprefix("#")
    number = whole_number(digits)
    if number is None or not 1 <= number <= 10**9:
        raise ArgError("must be a proposal number, like 3 (!proposals lists them)")
    return number


KINDS = (ArgKind("number", proposal),)
