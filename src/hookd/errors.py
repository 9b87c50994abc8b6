"""hookd's one exception tree. Driver and library errors become these at the edges."""


class HookdError(Exception):
    """Base of every error hookd raises on purpose."""


class ConfigError(HookdError):
    """The configuration is invalid. `problems` holds every problem, each with file:line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class StoreError(HookdError):
    """The store could not do what was asked (the database failed or is unreachable)."""


class NotFound(HookdError):
    """A record asked for by id does not exist."""
