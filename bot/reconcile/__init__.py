"""The reconciler: applies the desired state of the repo on the host by running hooks.

- `hooks`: running one host hook safely (the security boundary), `HookResult`.
- `desired`: what HEAD asks for, per (env, app), and by which commit.
- `outcome`: `RunOutcome`, the record of one run or decision.
- `journal`: the SQLite journal of runs, and what is applied.
- `notes`: outcomes as git notes (`refs/notes/opsbot`) on the commits that asked.
- `reconciler`: `Reconciler`, which ties them together.
"""
