"""Delivery: deploy, rollback and promote an app's version, the proposals that wait for
approval, freezes and locks of an environment, and `!status` of everything deployed."""
