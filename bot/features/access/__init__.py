"""Access: who may do what (roles in policy.toml), whose devices are trusted, and what an
admin does with commits pushed from outside opsbot (adopt or discard)."""
