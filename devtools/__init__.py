"""Development-only code, run from a checkout and never installed: a throwaway Synapse
(`devserver`), a person's end-to-end-encrypted client (`devclient`) and the local demo
(`demo`, what `scripts/demo` runs). The tests and the benchmarks use them too."""
