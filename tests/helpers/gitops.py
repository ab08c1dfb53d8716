"""A state repo whose apps a GitOps engine applies: the declarations, a Kustomize base, and a
real Kustomize (`kubectl kustomize`) to build what opsbot rendered, from a `git clone`."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from bot.state.message import Message
from bot.state.repo import Identity
from tests.helpers.bot import ALICE, Bot
from tests.helpers.git import git

IMAGE = "registry.example.org/shop/web"

WEB = f"""# The public web front end, run by Argo CD or Flux from deploy/<env>/web/.
description = "Public web front end"

[gitops]
engine = "kustomize"
image = "{IMAGE}"
base = "deploy/base/web"
"""

API = """# The JSON API, a Helm chart: opsbot sets image.tag in each environment's values.
description = "JSON API"

[gitops]
engine = "helm"
image = "registry.example.org/shop/api"
"""

BASE = {
    "deploy/base/web/kustomization.yaml": "resources:\n- deployment.yaml\n",
    "deploy/base/web/deployment.yaml": f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      containers:
      - name: web
        image: {IMAGE}:latest
""",
}

OVERLAY = f"""# prod's overlay, written by a person: opsbot only ever changes newTag below.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
bases:
  - ../../base/web   # the one base every environment shares
patchesStrategicMerge:
  - replicas.yaml   # prod runs three
images:
  - name: {IMAGE}
    newTag: "0.9.0"
"""

STAGING = f"""apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
bases:
- ../../base/web
images:
- name: {IMAGE}
  newTag: 0.9.0
"""
"""staging's overlay, also a person's; `bases:` is what every Kustomize reads (the one in
kubectl 1.20 reads a directory nowhere else); dev has none until opsbot writes it."""

REPLICAS = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
"""


def commit_files(bot: Bot, files: dict[str, str], summary: str = "edit by hand") -> str:
    """One commit of several files, as a person editing the repo by hand would make it."""
    state = bot.engine.repo
    with state.locked():
        return state.commit(
            {path: text.encode() for path, text in files.items()},
            Message(summary=summary),
            Identity("Alice", ALICE),
            bot.clock(),
            parent=state.head(),
        )


def declare(bot: Bot) -> Bot:
    """web is rendered for Kustomize (a base, and people's overlays in staging and prod; dev's is
    opsbot's to write), api for Helm."""
    commit_files(
        bot,
        {
            "apps/web.toml": WEB,
            "apps/api.toml": API,
            **BASE,
            "deploy/prod/web/kustomization.yaml": OVERLAY,
            "deploy/staging/web/kustomization.yaml": STAGING,
            "deploy/prod/web/replicas.yaml": REPLICAS,
        },
        "declare web and api for the GitOps engine",
    )
    return bot


def checkout(repo: Path, into: Path) -> Path:
    """What a GitOps engine sees: a plain `git clone` of the repo."""
    subprocess.run(["git", "clone", "-q", str(repo), str(into)], check=True)
    return into


def kubectl() -> str:
    found = shutil.which("kubectl")
    if found is None:
        pytest.skip(
            "no kubectl on PATH for a real Kustomize (Debian's kubernetes-client; scripts/test "
            "installs it when run as root)"
        )
    return found


def modern_kustomize() -> str:
    """kubectl whose Kustomize reads a directory under `resources:` (v2.1 on), as Argo CD's and
    Flux's do; the one in kubectl 1.20 (Kustomize v2.0.3) reads directories only as `bases:`."""
    found = kubectl()
    said = subprocess.run([found, "version", "--client"], capture_output=True, text=True).stdout
    match = re.search(r"Kustomize Version: v(\d+)\.(\d+)", said)
    if match is None or (int(match[1]), int(match[2])) < (2, 1):
        pytest.skip("this kubectl's Kustomize predates v2.1: it reads a base only as `bases:`")
    return found


def build(overlay: Path) -> str:
    """The manifests Kustomize builds from `overlay`, as the engine would apply them."""
    result = subprocess.run(
        [kubectl(), "kustomize", str(overlay)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def images(manifests: str) -> list[str]:
    return re.findall(r"image: (\S+)", manifests)


def show(bot: Bot, path: str, rev: str = "main") -> str:
    return git(bot.repo, "show", f"{rev}:{path}")
