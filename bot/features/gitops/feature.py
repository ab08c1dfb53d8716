"""What GitOps contributes: the check that rendered files agree with the desired versions.
Deploys render their files through bot/features/gitops/files.py, in delivery's commit."""

from bot.engine.feature import Feature
from bot.features.gitops import files

FEATURE = Feature("gitops", checks=(files.problems,))
