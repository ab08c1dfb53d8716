"""Typed, read-only access to one snapshot of the state repo, and where each record lives.

Handlers read the repo through a `StateView` and describe writes as `path -> text`, using the
`*_path` functions here so that the layout of DESIGN.md is written down once.
"""

from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from bot.core.errors import InvalidRecord, NotFound
from bot.state.policy import Policy, decode_policy
from bot.state.policy_section import PolicySection
from bot.state.records import App, Deployment, Environment, Freeze, Lock, Suspension, decode
from bot.state.repo import Snapshot

POLICY = "policy.toml"

R = TypeVar("R")

Check = Callable[["StateView"], list[InvalidRecord]]
"""A feature's check of the records it owns (its `Feature.checks`): every file that does not
validate, naming the file and the field."""


def app_path(app: str) -> str:
    return f"apps/{app}.toml"


def deployment_path(env: str, app: str) -> str:
    return f"deployments/{env}/{app}.toml"


def freeze_path(env: str) -> str:
    return f"freezes/{env}.toml"


def lock_path(env: str) -> str:
    return f"locks/{env}.toml"


def suspension_path(name: str) -> str:
    return f"suspended/{name}.toml"


class StateView:
    """A snapshot never changes, so what is read from it is read once: a command asks for the
    policy and the environments several times (authorize, then its handler).

    One bad file must not stop every command for everyone: the readers of a whole directory
    (`apps`, `environments`, `deployments`, `suspensions`) skip a record that does not validate
    and keep it for `problems()`. A command about that one record (`environment("prod")`, a
    deploy reading `freezes/prod.toml`) is still refused, naming the file: a freeze nobody can
    read must not pass for no freeze."""

    def __init__(
        self,
        snapshot: Snapshot,
        checks: Sequence[Check] = (),
        sections: Sequence[PolicySection[Any]] = (),
    ) -> None:
        """`checks` and `sections`: the features' (the catalog's `checks()` and
        `policy_sections()`). A view without a feature's section reads its [section] in
        policy.toml as unknown, which closes the policy: only admins act."""
        self.snapshot = snapshot
        self.checks = tuple(checks)
        self.sections = tuple(sections)
        self.commit = snapshot.commit
        self._policy: Policy | None = None
        self._apps: dict[str, App] | None = None
        self._environments: dict[str, Environment] | None = None
        self._skipped: dict[str, InvalidRecord] = {}

    def at(self, snapshot: Snapshot) -> "StateView":
        """Another snapshot, read with the same checks and sections of the policy."""
        return StateView(snapshot, self.checks, self.sections)

    def text(self, path: str) -> str | None:
        try:
            return self.snapshot.text(path)
        except UnicodeDecodeError:
            raise InvalidRecord(path, None, "not UTF-8 text") from None

    def policy(self) -> Policy:
        if self._policy is None:
            text = self.snapshot.text(POLICY)
            if text is None:
                raise InvalidRecord(
                    POLICY, None, "missing: the repo has no policy, so nobody may act"
                )
            self._policy = decode_policy(text, POLICY, self.sections)
        return self._policy

    def apps(self) -> dict[str, App]:
        if self._apps is None:
            self._apps = self._readable(
                "apps", lambda name, path, text: decode(App, path, text, name=name)
            )
        return self._apps

    def environments(self) -> dict[str, Environment]:
        """Environments in promotion order (dev before prod)."""
        if self._environments is None:
            envs = self._readable(
                "environments", lambda name, path, text: decode(Environment, path, text, name=name)
            ).values()
            ordered = sorted(envs, key=lambda e: (e.order, e.name))
            self._environments = {e.name: e for e in ordered}
        return self._environments

    def app(self, name: str) -> App:
        apps = self.apps()
        if name not in apps:
            self._refuse_if_skipped(app_path(name))
            raise NotFound(
                f"unknown app {name!r}",
                hint=f"known apps: {', '.join(apps) or '(none yet: add apps/<name>.toml)'}",
            )
        return apps[name]

    def environment(self, name: str) -> Environment:
        envs = self.environments()
        if name not in envs:
            self._refuse_if_skipped(f"environments/{name}.toml")
            raise NotFound(
                f"unknown environment {name!r}",
                hint=f"known environments: {', '.join(envs) or '(none)'}",
            )
        return envs[name]

    def deployment(self, env: str, app: str) -> Deployment | None:
        path = deployment_path(env, app)
        text = self.text(path)
        return None if text is None else decode(Deployment, path, text, env=env, app=app)

    def deployments(self, env: str) -> dict[str, Deployment]:
        return self._readable(
            f"deployments/{env}",
            lambda name, path, text: decode(Deployment, path, text, env=env, app=name),
        )

    def freeze(self, env: str) -> Freeze | None:
        path = freeze_path(env)
        text = self.text(path)
        return None if text is None else decode(Freeze, path, text, env=env)

    def lock(self, env: str) -> Lock | None:
        path = lock_path(env)
        text = self.text(path)
        return None if text is None else decode(Lock, path, text, env=env)

    def suspensions(self) -> dict[str, Suspension]:
        """What the reconciler leaves alone. It goes by the file being there, so a file that does
        not validate still suspends (shown without who and when), and `!resume` removes it."""
        found = self._readable(
            "suspended", lambda name, path, text: decode(Suspension, path, text, name=name)
        )
        for name, path in self._tomls("suspended"):
            if name not in found and path in self._skipped:
                found[name] = Suspension(name=name)
        return found

    def problems(self) -> list[InvalidRecord]:
        """Every file that fails validation, for `opsbot check`; [] when all is well."""
        found: list[InvalidRecord] = []
        try:
            found += self.policy().problems  # entries skipped, the rest in force
        except InvalidRecord as e:
            found.append(e)
        self.apps()
        self.suspensions()
        for env in self.environments():
            self.deployments(env)
            for read in (self.freeze, self.lock):
                try:
                    read(env)
                except InvalidRecord as e:
                    found.append(e)
        # The reconciler reads every deployments/<env>/, described in environments/ or not.
        for env in self.snapshot.list("deployments"):
            if env not in self.environments():
                self.deployments(env)
        for check in self.checks:
            found += check(self)
        return found + list(self._skipped.values())

    def _readable(self, directory: str, read: Callable[[str, str, str], R]) -> dict[str, R]:
        """Every record of `directory` that validates, by name; the others kept for `problems`."""
        found: dict[str, R] = {}
        for name, path in self._tomls(directory):
            try:
                text = self.text(path)
                if text is not None:
                    found[name] = read(name, path, text)
            except InvalidRecord as e:
                self._skipped[path] = e
        return found

    def _refuse_if_skipped(self, path: str) -> None:
        if path in self._skipped:
            raise self._skipped[path]

    def _tomls(self, directory: str) -> Iterator[tuple[str, str]]:
        for entry in self.snapshot.list(directory):
            if entry.endswith(".toml"):
                yield entry.removesuffix(".toml"), f"{directory}/{entry}"
