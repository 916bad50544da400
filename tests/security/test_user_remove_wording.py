"""``schedy user remove`` promises what the service does: sessions end within seconds, not at once."""

from __future__ import annotations

import subprocess

from schedy.server.service.auth import LIVENESS_TTL
from tests.cli.conftest import clean_env, schedy_argv

PROMISE = f"within {LIVENESS_TTL:g} seconds"


def test_user_remove_says_sessions_end_within_the_liveness_ttl(service, tmp_path):
    helped = subprocess.run(schedy_argv("user", "--help"), capture_output=True, text=True, env=clean_env(tmp_path))
    assert helped.returncode == 0, helped.stderr
    assert "at once" not in helped.stdout
    assert PROMISE in " ".join(helped.stdout.split())  # argparse wraps the help

    user = service.new_user()
    command = schedy_argv("user", "remove", user.email, "-f", "--database", service.process.database_url)
    done = subprocess.run(command, capture_output=True, text=True, env=clean_env(tmp_path))
    assert done.returncode == 0, done.stderr
    assert f"Removed {user.email}" in done.stdout
    assert PROMISE in done.stdout
