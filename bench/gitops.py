"""What rendering for a GitOps engine costs a deploy: `!deploy` through the real Engine for an app
declared `[gitops]` (the deployment and a Kustomize overlay in one commit) against the same
command for an app with a deploy hook (the deployment alone), on the same repo, in the same run.

    python bench/gitops.py [--deploys 200]

Goal: rendering adds less than 10 ms to a deploy's engine time (ruamel.yaml's round-trip
parser is pure Python: it keeps comments, and costs a few milliseconds per file). Everything
lives in a temporary directory, removed at the end.
"""

import argparse
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from bot.config import HostPaths
from bot.engine.dispatch import Engine
from bot.engine.types import Invocation
from bot.service.assemble import init_repo, open_engine
from bot.state.message import Message
from bot.state.repo import Identity

ALICE = "@alice:example.org"
GOAL_MS = 10.0  # gitops deploy time - plain deploy time
OVERLAY = """# A person's overlay: opsbot changes newTag only.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../../base/shop   # shared base
patches:
  - path: replicas.yaml
images:
  - name: registry.example.org/shop
    newTag: "0.1.0"
"""


def say(engine: Engine, text: str) -> None:
    reply = engine.run(
        Invocation(
            sender=ALICE,
            sender_name="Alice",
            text=text,
            event_id=f"${uuid.uuid4().hex}",
            received_at=datetime.now(UTC),
            room_id="!bench:example.org",
            room_name="#bench",
            transport="console",
        )
    )
    assert reply is not None and reply.ok, reply


def timed(engine: Engine, app: str, deploys: int) -> list[float]:
    took = []
    for n in range(deploys):
        started = time.perf_counter()
        say(engine, f"!deploy {app} 1.{n}.0 to staging")
        took.append((time.perf_counter() - started) * 1000)
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deploys", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as top:
        paths = HostPaths.beside(Path(top) / "state")
        init_repo(paths, admins=[ALICE])
        engine = open_engine(paths)
        repo = engine.repo
        files = {
            "apps/shop.toml": '[gitops]\nengine = "kustomize"\nimage = "registry.example.org/shop"'
            '\nbase = "deploy/base/shop"\n',
            "deploy/staging/shop/kustomization.yaml": OVERLAY,
        }
        with repo.locked():
            blobs = {p: t.encode() for p, t in files.items()}
            who = Identity("Alice", ALICE)
            repo.commit(
                blobs, Message(summary="declare"), who, datetime.now(UTC), parent=repo.head()
            )
        # Alternate small batches so that both see the same repo size and machine load.
        plain: list[float] = []
        rendered: list[float] = []
        for _ in range(args.deploys // 20):
            plain += timed(engine, "web", 10)
            rendered += timed(engine, "shop", 10)
    p, r = statistics.median(plain), statistics.median(rendered)
    print(f"!deploy, hook app (deployment only):     median {p:.2f} ms over {len(plain)}")
    print(f"!deploy, gitops app (deployment+overlay): median {r:.2f} ms over {len(rendered)}")
    added = r - p
    print(
        f"rendering adds {added:.2f} ms ({r / p:.2f}x; goal < {GOAL_MS:g} ms): "
        f"{'met' if added < GOAL_MS else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
