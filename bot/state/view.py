"""Typed, read-only access to one snapshot of the state repo, and where each record lives.

Handlers read the repo through a `StateView` and describe writes as `path -> text`, using the
`*_path` functions here so that the layout of DESIGN.md is written down once.
"""

from collections.abc import Iterator

from bot.errors import InvalidRecord, NotFound
from bot.state.incidents import problems as incident_problems
from bot.state.policy import Policy, decode_policy
from bot.state.records import App, Deployment, Environment, Freeze, Lock, Suspension, decode
from bot.state.repo import Snapshot

POLICY = "policy.toml"


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
    policy and the environments several times (authorize, then its handler)."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.commit = snapshot.commit
        self._policy: Policy | None = None
        self._apps: dict[str, App] | None = None
        self._environments: dict[str, Environment] | None = None

    def text(self, path: str) -> str | None:
        return self.snapshot.text(path)

    def policy(self) -> Policy:
        if self._policy is None:
            text = self.snapshot.text(POLICY)
            if text is None:
                raise InvalidRecord(
                    POLICY, None, "missing: the repo has no policy, so nobody may act"
                )
            self._policy = decode_policy(text, POLICY)
        return self._policy

    def apps(self) -> dict[str, App]:
        if self._apps is None:
            found = self._toml("apps")
            self._apps = {name: decode(App, path, text, name=name) for name, path, text in found}
        return self._apps

    def environments(self) -> dict[str, Environment]:
        """Environments in promotion order (dev before prod)."""
        if self._environments is None:
            envs = [
                decode(Environment, path, text, name=name)
                for name, path, text in self._toml("environments")
            ]
            ordered = sorted(envs, key=lambda e: (e.order, e.name))
            self._environments = {e.name: e for e in ordered}
        return self._environments

    def app(self, name: str) -> App:
        apps = self.apps()
        if name not in apps:
            raise NotFound(
                f"unknown app {name!r}",
                hint=f"known apps: {', '.join(apps) or '(none yet: add apps/<name>.toml)'}",
            )
        return apps[name]

    def environment(self, name: str) -> Environment:
        envs = self.environments()
        if name not in envs:
            raise NotFound(
                f"unknown environment {name!r}",
                hint=f"known environments: {', '.join(envs) or '(none)'}",
            )
        return envs[name]

    def deployment(self, env: str, app: str) -> Deployment | None:
        path = deployment_path(env, app)
        text = self.snapshot.text(path)
        return None if text is None else decode(Deployment, path, text, env=env, app=app)

    def deployments(self, env: str) -> dict[str, Deployment]:
        return {
            name: decode(Deployment, path, text, env=env, app=name)
            for name, path, text in self._toml(f"deployments/{env}")
        }

    def freeze(self, env: str) -> Freeze | None:
        path = freeze_path(env)
        text = self.snapshot.text(path)
        return None if text is None else decode(Freeze, path, text, env=env)

    def lock(self, env: str) -> Lock | None:
        path = lock_path(env)
        text = self.snapshot.text(path)
        return None if text is None else decode(Lock, path, text, env=env)

    def suspensions(self) -> dict[str, Suspension]:
        return {
            name: decode(Suspension, path, text, name=name)
            for name, path, text in self._toml("suspended")
        }

    def problems(self) -> list[InvalidRecord]:
        """Every file that fails validation, for `opsbot check`; [] when all is well."""
        found: list[InvalidRecord] = []
        checks = [self.policy, self.apps, self.environments]
        for check in checks:
            try:
                check()
            except InvalidRecord as e:
                found.append(e)
        try:
            envs = self.environments()
        except InvalidRecord:
            envs = {}
        found += incident_problems(self)
        for env in envs:
            for read in (self.deployments, self.freeze, self.lock):
                try:
                    read(env)
                except InvalidRecord as e:
                    found.append(e)
        # The reconciler reads every deployments/<env>/, described in environments/ or not.
        for env in self.snapshot.list("deployments"):
            if env not in envs:
                try:
                    self.deployments(env)
                except InvalidRecord as e:
                    found.append(e)
        return found

    def _toml(self, directory: str) -> Iterator[tuple[str, str, str]]:
        for entry in self.snapshot.list(directory):
            if not entry.endswith(".toml"):
                continue
            path = f"{directory}/{entry}"
            text = self.snapshot.text(path)
            if text is not None:
                yield entry.removesuffix(".toml"), path, text
