"""Alerts: Alertmanager's webhook, whose alert groups open and resolve incidents."""
