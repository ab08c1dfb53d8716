"""Runbooks: diagnostics declared in the state repo (runbooks/<name>.toml), run on the host by a
program of the hooks directory, streamed back to the room and recorded in Git.

declaration.py reads and checks a declaration, params.py its typed parameters, patterns.py
compiles the repo's patterns (RE2, linear time), binding.py the words a run is typed with,
runner.py runs a program, redact.py cleans what it prints (encodings.py: the forms a secret
takes), journal.py keeps the host's runs, record.py writes them to Git, executor.py ties them.
"""
