"""Running opsbot as a service: `opsbot run`, and `opsbot install-service`, which installs the
systemd unit and says the steps that follow (the README's "Run it as a service")."""

import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bot.cli.host import host_config
from bot.core import shipped
from bot.core.files import PUBLIC_FILE, make_dir, private_dir, write_file
from bot.core.text import say

if TYPE_CHECKING:
    from bot.cli.host import Subcommands


def add_run(sub: "Subcommands") -> None:
    p = sub.add_parser("run", help="serve Matrix rooms, as configured in the host config")
    p.add_argument("--config", type=Path, required=True, help="host config (TOML)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    config = host_config(args.config)
    if config is None:
        return 2
    if config.matrix is None:
        say(f"{args.config}: [matrix] is missing; opsbot run serves Matrix", sys.stderr)
        return 2
    from bot.service import run as service  # imports nio, which the other subcommands do not need

    return service.run(config)


def add_install_service(sub: "Subcommands") -> None:
    p = sub.add_parser(
        "install-service", help="install the systemd unit and an example config, then say what next"
    )
    p.add_argument(
        "--prefix", type=Path, default=Path("/"), help="install under this root (default: /)"
    )
    p.set_defaults(func=_install_service)


def _install_service(args: argparse.Namespace) -> int:
    try:
        return _install(args.prefix)
    except PermissionError as e:
        say(
            f"opsbot install-service: cannot write {e.filename}: run it as root "
            "(sudo opsbot install-service), or give --prefix a directory you may write",
            sys.stderr,
        )
        return 2


def _install(prefix: Path) -> int:
    """The unit, starting this very opsbot, and the example config unless one is there."""
    executable = _opsbot_executable()
    if executable is None:
        say("opsbot install-service: cannot find the opsbot executable", sys.stderr)
        return 2
    unit = prefix / "etc/systemd/system/opsbot.service"
    config = prefix / "etc/opsbot/opsbot.toml"
    text = shipped.systemd("opsbot.service").read_text()
    start = "ExecStart=/usr/local/bin/opsbot "
    assert start in text, "the shipped unit starts /usr/local/bin/opsbot"
    # In a unit file, % starts a specifier and a space ends the path unless it is quoted.
    escaped = str(executable).replace("%", "%%")
    escaped = f'"{escaped}"' if any(c.isspace() for c in escaped) else escaped
    make_dir(unit.parent)
    write_file(unit, text.replace(start, f"ExecStart={escaped} ").encode(), PUBLIC_FILE)
    say(f"wrote {unit} (ExecStart={executable})")
    for path in dict.fromkeys([executable, Path(sys.executable).resolve()]):
        if hidden_from_the_service(path):
            say(
                f"warning: the service cannot see {path} (ProtectHome=, PrivateTmp=): "
                "install opsbot outside home directories and /tmp, e.g. in a venv in /opt/opsbot",
                sys.stderr,
            )
    # Root-owned and not writable by the service: what it runs, and what it is told.
    # Made or tightened: a hooks.d anyone may write to would run anyone's code.
    hooks = make_dir(prefix / "etc/opsbot/hooks.d")
    _ship_hooks(hooks, prefix / "etc/opsbot/shipped-hooks.json")
    private_dir(prefix / "etc/opsbot/credentials")
    if config.exists():
        say(f"kept {config} (it exists)")
    else:
        # No secret in it, and the service's dynamic user must read it.
        write_file(config, shipped.systemd("opsbot.toml.example").read_bytes(), PUBLIC_FILE)
        say(f"wrote {config} (an example: set homeserver and user_id)")
    say(next_steps(prefix))
    return 0


def _ship_hooks(hooks: Path, record: Path) -> None:
    """The example runbooks' programs. One the operator changed is theirs, and kept; one as an
    earlier install-service wrote it (its sha256 in `record`) is brought up to this release's."""
    written: dict[str, str] = json.loads(record.read_text()) if record.exists() else {}
    for name, data in shipped.read_tree(shipped.systemd("hooks.d")).items():
        target, new = hooks / name, hashlib.sha256(data).hexdigest()
        now = hashlib.sha256(target.read_bytes()).hexdigest() if target.exists() else None
        if now == new:
            say(f"kept {target} (as shipped)")
        elif now is None or now == written.get(name):
            write_file(target, data, 0o755)
            say(f"{'wrote' if now is None else 'updated'} {target}")
        else:
            say(f"kept {target} (changed here)")
            continue
        written[name] = new
    write_file(record, (json.dumps(written, indent=2, sort_keys=True) + "\n").encode(), PUBLIC_FILE)


# The service path, step by step, written once: `install-service` prints the steps after its
# own, `python -m bot.cli.docs` copies them all into the README's "Run it as a service", and
# tests/e2e/test_readme_service.py follows the README's copy in a fresh directory.
SERVICE_STEPS = """\
# 1. the unit, starting this opsbot, and an example host config (kept if there is one)
opsbot install-service
# 2. set homeserver and user_id (the bot's Matrix account) in the host config
editor /etc/opsbot/opsbot.toml
# 3. the bot's password, readable by root alone; systemd hands it to the service
#    (type it, then Ctrl-D; or encrypt it for this host with systemd-creds encrypt
#    --name=password - /etc/opsbot/credentials/password.cred and LoadCredentialEncrypted=)
install -m 0600 /dev/stdin /etc/opsbot/credentials/password
# 4. the key that signs every commit, made once; keep the allowed-signers line it prints
opsbot keygen --out /etc/opsbot/credentials/signing_key --principal @opsbot:example.org
# 5. the state repo in the service's state directory, its first commit signed with that key
opsbot init /var/lib/opsbot/state.git --state-dir /var/lib/opsbot \\
  --key /etc/opsbot/credentials/signing_key --bot @opsbot:example.org --admin @you:example.org
# 6. deploy and health hooks, if any, go in /etc/opsbot/hooks.d (root-owned, not group-writable)
# 7. check the host config and the repo, and try a command from the console if you like
opsbot check --config /etc/opsbot/opsbot.toml
opsbot shell --repo /var/lib/opsbot/state.git --state-dir /var/lib/opsbot \\
  --key /etc/opsbot/credentials/signing_key --as @you:example.org
# 8. start it now and at every boot; its status says "serving N rooms" once it is ready
systemctl daemon-reload
systemctl enable --now opsbot.service
systemctl status opsbot.service
"""


def next_steps(prefix: Path = Path("/")) -> str:
    """The service steps after install-service's own, naming the files where `prefix` put
    them."""
    steps = SERVICE_STEPS.split("\n# 2. ", 1)[1]
    if prefix != Path("/"):
        steps = steps.replace("/etc/opsbot/", f"{prefix.absolute() / 'etc/opsbot'}/")
    return "\nnext, as root:\n# 2. " + steps.rstrip("\n")


def hidden_from_the_service(path: Path) -> bool:
    """Whether the unit's sandbox hides `path`: home directories and the host's /tmp."""
    hidden = ("/home", "/root", "/run/user", "/tmp", "/var/tmp")
    return any(path.is_relative_to(top) for top in hidden)


def _opsbot_executable() -> Path | None:
    """The opsbot script beside this Python (a virtualenv's bin/), else the one on PATH."""
    beside = Path(sys.executable).parent / "opsbot"
    if beside.is_file():
        return beside.absolute()
    found = shutil.which("opsbot")
    return Path(found).absolute() if found else None
