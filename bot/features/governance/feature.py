"""What change governance contributes."""

from bot.engine.feature import Feature

FEATURE = Feature("governance")
