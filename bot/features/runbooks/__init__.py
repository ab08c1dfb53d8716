"""Runbooks: diagnostics declared in the state repo (runbooks/<name>.toml), run on the host by a
program of the hooks directory, streamed back to the room and recorded in Git.

declaration.py reads and checks a declaration, params.py its typed parameters, patterns.py
compiles the repo's patterns (RE2, linear time), binding.py the words a run is typed with.
commands.py holds the handlers, which leave a job (jobs.py) for the executor. executor.py takes
the jobs and queues the runs in journal.py; running.py has one run: runner.py runs its program,
redact.py cleans what it prints (encodings.py: the forms a secret takes), replies.py says it in
the reply; record.py writes the run to Git, and requests.py notes it in an incident's timeline.
"""
