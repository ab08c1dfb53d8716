"""Runbooks: diagnostics declared in the state repo (runbooks/<name>.toml), run on the host by a
program of the hooks directory, streamed back to the room and recorded in Git.

declaration.py reads and checks a declaration, params.py its typed parameters, binding.py the
words a run is typed with, runner.py runs a program, redact.py cleans what it prints,
journal.py keeps the host's runs, record.py writes them to Git, executor.py ties them.
"""
