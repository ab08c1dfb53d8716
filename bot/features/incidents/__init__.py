"""Incidents: declared, reclassified and resolved in chat, each with a room of its own, a
timeline kept in Git, its transcript, and the postmortem written from both."""
