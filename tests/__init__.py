"""opsbot's tests, laid out by kind: unit/ mirrors bot/, matrix/ talks to a real Synapse, e2e/
drives the console and the command line, security/ holds the attacks of the security reviews,
slow/ the crash and concurrency runs. What they share lives in helpers/ and conftest.py."""
