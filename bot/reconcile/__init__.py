"""The reconciler: applies the desired state of the repo on the host by running hooks.

- `hooks`: running one host hook safely (the security boundary), and its argv.
- `desired`: what HEAD asks for, per (env, app), and by which commit.
- `journal`: `ReconcileJournal`, the SQLite journal of what was applied, hook run by hook run.
- `recorder`: each outcome logged, noted on its commit (`refs/notes/opsbot`), handed on.
- `apply`: one request applied to its target: the attempts and the waits between them.
- `health`: the read-only hooks (health, observe) and what they last said.
- `reconciler`: `Reconciler`, the passes that tie them together.
"""
