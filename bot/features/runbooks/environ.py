"""What a runbook's program finds in its environment, and which names the repo may put there.

The repo names the variables a program reads as its own input: a token, a database password, a
log level. It never changes how the host finds and loads programs. So a name the repo declares
(`[env]`, a value or a secret) must look like a plain variable (A-Z, 0-9 and _, starting with a
letter: `http_proxy` and `_JAVA_OPTIONS` are refused by their shape) and belong to none of the
families below, each of which steers the dynamic loader, an interpreter, a shell, the C library,
TLS and proxies, or another program started on the way; `OPSBOT_` is the host's own. Whatever
reaches the runner, from the repo or from a job written before these rules, `for_program`
drops those families again and lays the host's base environment (`PATH`, `LANG`) on top.

A family is exact names and prefixes: a list of every variable a loader or an interpreter reads
could never be complete, a prefix (`LD_*`, `PYTHON*`) covers the ones to come.
"""

import re
from collections.abc import Mapping

from bot.reconcile.hooks import BASE_ENV

NAME = re.compile(r"[A-Z][A-Z0-9_]{0,63}")
HOST_PREFIX = "OPSBOT_"  # the host's variables (a download's directory and quota)

# What a variable of each family does, and its names; `NAME*` is every name starting so.
_FAMILIES: tuple[tuple[str, str], ...] = (
    ("decides which programs run", "PATH CDPATH FPATH"),
    (
        "steers the dynamic loader or the C library",
        "LD_* DYLD_* MALLOC_* LIBC_* GLIBC_TUNABLES GCONV_PATH HOSTALIASES LOCALDOMAIN RES_OPTIONS",
    ),
    (
        "steers an interpreter (which modules or options it loads)",
        "PYTHON* PERL* RUBY* GEM_* BUNDLE_* NODE_* NPM_* YARN_* JAVA_* JDK_* CLASSPATH LUA_* "
        "TCL* GUILE_* DOTNET_* COMPLUS_* CORECLR_* R_* JULIA_* ERL_* PHP* CARGO_* RUST* "
        "GOPATH GOROOT GOFLAGS GODEBUG GOENV",
    ),
    (
        "is read by a shell as it starts",
        "ENV BASH_* IFS SHELL SHELLOPTS BASHOPTS PS4 PROMPT_COMMAND GLOBIGNORE ZDOTDIR INPUTRC "
        "POSIXLY_CORRECT",
    ),
    (
        "makes the C library load files (locales, conversions, time zones, terminals)",
        "LANG LANGUAGE LC_* LOCPATH NLSPATH TZ TZDIR TERMINFO TERMINFO_DIRS TERMCAP",
    ),
    (
        "names where programs look for their files",
        "HOME TMPDIR TMP TEMP TEMPDIR XDG_* WGETRC MYSQL_HOME PSQL* PGPASSFILE PGSERVICEFILE "
        "PGSYSCONFDIR KRB5* GNUPG*",
    ),
    (
        "steers TLS, certificates or proxies",
        "*_PROXY SSL_* OPENSSL_* GNUTLS_* NSS_* CURL_* REQUESTS_CA_BUNDLE SSLKEYLOGFILE PGSSL* "
        "PGREQUIRESSL PGGSSENCMODE",
    ),
    (
        "starts another program or steers one",
        "PAGER EDITOR VISUAL BROWSER LESSOPEN LESSCLOSE MANPAGER GIT_* SSH_* GPG_* DBUS_* "
        "SYSTEMD_* NOTIFY_SOCKET LISTEN_FDS LISTEN_PID LISTEN_FDNAMES",
    ),
    ("is the host's own", HOST_PREFIX + "*"),
)


def refusal(name: str) -> str | None:
    """Why the repo may not name `name` in a program's environment; None if it may."""
    if not NAME.fullmatch(name):
        return "an environment name is A-Z, 0-9 and _, starting with a letter"
    family = _family(name)
    if family is None:
        return None
    if name.startswith(HOST_PREFIX):
        return f"{name} is the host's own: opsbot sets {HOST_PREFIX}* itself"
    return (
        f"{name} {family}: the repo chooses a program's own variables, never how the host "
        "loads programs"
    )


def for_program(env: Mapping[str, str]) -> dict[str, str]:
    """The environment a program starts with: `env` without a variable of the families (from
    wherever it came), and the host's base environment over it."""
    kept = {k: v for k, v in env.items() if NAME.fullmatch(k) and _steers(k) is None}
    return {**kept, **BASE_ENV}


def _family(name: str) -> str | None:
    for what, words in _FAMILIES:
        for word in words.split():
            if word.startswith("*") and name.endswith(word[1:]):  # HTTPS_PROXY, NO_PROXY
                return what
            if word == name or (word.endswith("*") and name.startswith(word[:-1])):
                return what
    return None


def _steers(name: str) -> str | None:
    """The family of `name`, the host's own prefix aside (the host sets those itself)."""
    return None if name.startswith(HOST_PREFIX) else _family(name)
