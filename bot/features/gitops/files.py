"""The rendered files of a snapshot: what a deploy adds to its commit, and what `opsbot check`
compares with `deployments/`. Pure: reads the `StateView` a handler already has."""

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from bot.core.errors import InvalidRecord
from bot.features.gitops import declaration
from bot.features.gitops.render import disagreements, render
from bot.state.records import Deployment, decode

if TYPE_CHECKING:
    from bot.state.view import StateView


def rendered(state: "StateView", app: str, env: str, version: str) -> dict[str, str]:
    """The files to write beside `deployments/<env>/<app>.toml` when it asks for `version`;
    {} for an app no GitOps engine applies."""
    decl = declaration.of(state.app(app))
    return {} if decl is None else render(decl, app, env, version, state.text)


def rerendered(state: "StateView", files: Mapping[str, str | bytes | None]) -> dict[str, str]:
    """The rendered files for every deployment that `files` (a proposal's changes) sets, made
    afresh from `state`: what a person wrote in them on main since the proposal opened is kept."""
    found: dict[str, str] = {}
    for path, content in files.items():
        parts = path.split("/")
        if len(parts) != 3 or parts[0] != "deployments" or content is None:
            continue
        if not parts[2].endswith(".toml"):
            continue
        env, app = parts[1], parts[2].removesuffix(".toml")
        text = content.decode() if isinstance(content, bytes) else content
        deployment = decode(Deployment, path, text, env=env, app=app)
        found |= rendered(state, app, env, deployment.version)
    return found


def environments_of(state: "StateView", paths: Iterable[str]) -> list[str]:
    """The environments whose GitOps engine reads the files at `paths`: each environment some
    app's declaration renders one of them for, and the one whose own directory (deploy/<env>/)
    holds one. `[gitops.paths]` may point one environment at another's file; writing it is
    acting in both."""
    wanted = set(paths)
    envs = state.environments()
    found = {env for env in envs for path in wanted if path.startswith(f"deploy/{env}/")}
    for app, record in state.apps().items():
        try:
            decl = declaration.of(record)
        except InvalidRecord:
            continue  # listed by `problems`; a deploy of that app is refused
        if decl is not None:
            found |= {env for env in {*envs, *decl.paths} if decl.path(env, app) in wanted}
    return [env for env in envs if env in found] + sorted(found - set(envs))


def problems(state: "StateView") -> list[InvalidRecord]:
    """Rendered files that disagree with the desired versions, and declarations that name an
    environment nobody described or a value another app renders too."""
    found: list[InvalidRecord] = []
    owners: dict[str, str] = {}
    envs = state.environments()
    for app, record in state.apps().items():
        try:
            decl = declaration.of(record)
        except InvalidRecord as e:
            found.append(e)
            continue
        if decl is None:
            continue
        for env in decl.paths:
            if env not in envs:
                found.append(
                    InvalidRecord(
                        f"apps/{app}.toml", f"gitops.paths.{env}", f"no environment named {env!r}"
                    )
                )
        for env in envs:
            path = decl.path(env, app)
            # Two apps may share one overlay (one images entry each), not one value.
            field = decl.image if decl.engine == "kustomize" else decl.tag_key
            where = f"{field} in {path}"
            if owners.setdefault(where, app) != app:
                found.append(
                    InvalidRecord(
                        f"apps/{app}.toml",
                        "gitops",
                        f"renders {where}, as apps/{owners[where]}.toml does",
                    )
                )
            try:
                deployment = state.deployment(env, app)
            except InvalidRecord:
                continue  # listed by the deployments' own check
            if deployment is not None and deployment.version:
                found += disagreements(decl, app, env, deployment.version, state.text)
    return found
