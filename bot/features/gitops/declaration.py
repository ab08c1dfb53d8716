"""The `[gitops]` table of `apps/<app>.toml`: what to render for a GitOps engine, and where.

    [gitops]
    engine = "kustomize"                   # or "helm"
    image = "registry.example.org/web"     # the image whose tag is the desired version
    base = "deploy/base/web"               # kustomize: what a new overlay builds on

    [gitops.paths]                         # optional, per environment
    prod = "clusters/prod/web/kustomization.yaml"

By default the file of environment <env> is `deploy/<env>/<app>/kustomization.yaml` (kustomize)
or `deploy/<env>/<app>/values.yaml` (helm). A Helm values file gets the tag at `tag_key`
(default `image.tag`) and, when `image` is declared, the image at `repository_key` (default
`image.repository`).

A deploy writes these paths, so they are held tight: relative, inside the repo, made of plain
segments (no `..`, no hidden names), and YAML files, so that no declaration can make a deploy
overwrite the policy or any other record of opsbot.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from bot.core.errors import InvalidRecord
from bot.state.names import name_problem
from bot.state.records import App

Engine = Literal["kustomize", "helm"]
ENGINES: tuple[Engine, ...] = ("kustomize", "helm")
KUSTOMIZATION = "kustomization.yaml"

_SEGMENT = re.compile(r"\A[A-Za-z0-9_][A-Za-z0-9._-]*\Z")
_KEY = re.compile(r"\A[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\Z")
# An image reference without tag or digest: an optional registry host (with port), then
# lowercase path components, as container registries accept them.
_IMAGE = re.compile(
    r"\A([A-Za-z0-9.-]+(:[0-9]+)?/)?[a-z0-9]+([._-]+[a-z0-9]+)*(/[a-z0-9]+([._-]+[a-z0-9]+)*)*\Z"
)
_KNOWN = ("base", "engine", "image", "paths", "repository_key", "tag_key")
_ONLY = {"base": "kustomize", "tag_key": "helm", "repository_key": "helm"}
MAX_PATH = 200
_RESERVED = (
    "alerts",
    "apps",
    "deployments",
    "environments",
    "freezes",
    "incidents",
    "locks",
    "proposals",
    "runbooks",
    "suspended",
)
"""The directories of opsbot's own records: nothing is rendered into them."""


@dataclass(frozen=True)
class GitOps:
    engine: Engine
    image: str | None = None
    base: str | None = None
    paths: Mapping[str, str] = field(default_factory=dict)
    tag_key: str = "image.tag"
    repository_key: str = "image.repository"

    def path(self, env: str, app: str) -> str:
        """The file rendered for `app` in `env`."""
        name = KUSTOMIZATION if self.engine == "kustomize" else "values.yaml"
        return self.paths.get(env) or f"deploy/{env}/{app}/{name}"


def parse(path: str, value: Any) -> GitOps:
    """The declaration from the `[gitops]` table of the file at `path`; every problem names the
    file and the key (`gitops.paths.prod`)."""
    if not isinstance(value, dict):
        raise InvalidRecord(path, "gitops", "must be a table: [gitops]")
    for key in value:
        if key not in _KNOWN:
            raise InvalidRecord(path, f"gitops.{key}", f"unknown key (known: {', '.join(_KNOWN)})")
    engine = value.get("engine")
    if engine not in ENGINES:
        raise InvalidRecord(path, "gitops.engine", f'must be "kustomize" or "helm", not {engine!r}')
    for key, only in _ONLY.items():
        if key in value and engine != only:
            raise InvalidRecord(path, f"gitops.{key}", f"is only for engine = {only!r}")
    strings = {
        k: _string(path, k, value[k])
        for k in ("image", "base", "tag_key", "repository_key")
        if k in value
    }
    image = strings.get("image")
    if image is None and engine == "kustomize":
        raise InvalidRecord(path, "gitops.image", "missing: the image whose tag a deploy sets")
    if image is not None and not _IMAGE.fullmatch(image):
        raise InvalidRecord(
            path,
            "gitops.image",
            f"{image!r} must be an image name without a "
            "tag or digest, like registry.example.org/team/web",
        )
    base = strings.get("base")
    if engine == "kustomize":
        if base is None:
            raise InvalidRecord(
                path,
                "gitops.base",
                "missing: the directory a new overlay builds on, like deploy/base/web",
            )
        _repo_path(path, "gitops.base", base)
    for key in ("tag_key", "repository_key"):
        if key in strings and not _KEY.fullmatch(strings[key]):
            raise InvalidRecord(
                path,
                f"gitops.{key}",
                f"{strings[key]!r} must be dotted keys of the values file, like image.tag",
            )
    paths = _paths(path, engine, value.get("paths", {}))
    return GitOps(
        engine,
        image,
        base,
        paths,
        **{k: strings[k] for k in ("tag_key", "repository_key") if k in strings},
    )


def _string(path: str, key: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidRecord(path, f"gitops.{key}", f"must be a non-empty string, not {value!r}")
    return value


def _paths(path: str, engine: Engine, value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise InvalidRecord(path, "gitops.paths", "must be a table of environment = path")
    found: dict[str, str] = {}
    for env, where in value.items():
        key = f"gitops.paths.{env}"
        if (problem := name_problem(env)) is not None:
            raise InvalidRecord(path, key, f"{env!r} is not an environment name: it {problem}")
        _repo_path(path, key, _string(path, f"paths.{env}", where))
        file = where.rsplit("/", 1)[-1]
        if engine == "kustomize" and file != KUSTOMIZATION:
            raise InvalidRecord(path, key, f"{where!r} must name a file called {KUSTOMIZATION}")
        if engine == "helm" and not file.endswith((".yaml", ".yml")):
            raise InvalidRecord(path, key, f"{where!r} must name a .yaml values file")
        found[env] = where
    return found


def _repo_path(path: str, key: str, value: str) -> None:
    """A path inside the repo: relative, plain segments, nothing hidden, no way up."""
    segments = value.split("/")
    bad = (
        len(value) > MAX_PATH
        or value.startswith("/")
        or any(s in ("", ".", "..") or not _SEGMENT.fullmatch(s) for s in segments)
    )
    if bad:
        raise InvalidRecord(
            path,
            key,
            f"{value!r} must be a relative path inside the repo, "
            "of letters, digits, '.', '-' and '_' (no '..', no leading '/' "
            "or '.')",
        )
    if segments[0] in _RESERVED:
        raise InvalidRecord(
            path,
            key,
            f"{value!r} is inside {segments[0]}/, where opsbot keeps "
            "its own records; use another directory, like deploy/",
        )


def of(app: App) -> GitOps | None:
    """The declaration of `app` (None: no GitOps engine applies it); a table that does not
    read raises, naming the file and the key, so a command about that app is refused."""
    return None if app.gitops is None else _parsed(f"apps/{app.name}.toml", app.gitops)


def _parsed(path: str, table: Mapping[str, Any]) -> GitOps:
    return parse(path, _plain(table))


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value
