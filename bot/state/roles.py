"""The roles of policy.toml and the conditions on a command, as the policy holds them."""

from dataclasses import dataclass

ADMIN = "admin"
EVERYONE = "*"


@dataclass(frozen=True)
class Role:
    name: str
    members: tuple[str, ...]
    commands: tuple[str, ...]
    environments: tuple[str, ...] | None  # None: every environment

    def has(self, user_id: str) -> bool:
        return user_id in self.members or EVERYONE in self.members

    def grants(self, command: str, env: str | None) -> bool:
        if self.name == ADMIN:
            return True
        if command not in self.commands and EVERYONE not in self.commands:
            return False
        return env is None or self.environments is None or env in self.environments


@dataclass(frozen=True)
class CommandRule:
    min_power_level: int | None = None
    require_verified_device: bool = False
    unreadable: str | None = None
    """Why the conditions cannot be read. A condition nobody can read must not pass for none:
    only admins may then run the command, and from a verified device."""
