"""Host configs the tests write, as an operator would."""

from pathlib import Path

from tests.helpers.bot import Bot


def live_config(
    bot: Bot, tmp_path: Path, extra: str = "", homeserver: str = "http://127.0.0.1:9"
) -> Path:
    """A host config for `bot`'s repo, its key 0600 and a hooks dir only its owner writes."""
    hooks = tmp_path / "hooks"
    hooks.mkdir(mode=0o755, exist_ok=True)
    (tmp_path / "password").write_text("secret")
    (tmp_path / "password").chmod(0o600)
    path = tmp_path / "opsbot.toml"
    path.write_text(
        f'[matrix]\nhomeserver = "{homeserver}"\nuser_id = "@opsbot:localhost"\n'
        f'password_file = "{tmp_path / "password"}"\n'
        f'[paths]\nstate_dir = "{bot.paths.state_dir}"\nrepo = "{bot.repo}"\n'
        f'hooks_dir = "{hooks}"\n{extra}'
    )
    return path
