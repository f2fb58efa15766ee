"""``reception-bridge token`` signs with the server's secret or refuses (issue 12, item 8).

Run outside the server's data folder it used to create a new secret and print a token
the server rejects; now it says why and prints nothing, and creates nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from config.settings import Settings
from signaling.tokens import verify_token

ROOT = Path(__file__).resolve().parents[2]


def run_token(cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RB_")}
    clean["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "web.cli", "token", "--site", "tw-hanoi", "--role", "operator"],
        cwd=cwd,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_token_outside_the_data_folder_is_refused(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = run_token(elsewhere)
    assert done.returncode == 2, done
    assert done.stdout == ""
    assert "no signing secret" in done.stderr
    assert str((elsewhere / "data").resolve()) in done.stderr
    assert "RB_SECRET" in done.stderr and "RB_DATA_DIR" in done.stderr
    assert not (elsewhere / "data").exists()


def test_token_uses_the_servers_secret(tmp_path: Path) -> None:
    server = Settings(data_dir=tmp_path / "server-data")
    secret = server.signing_secret()  # what the server creates on its first start
    for cwd, env in (
        (tmp_path, {"RB_DATA_DIR": str(tmp_path / "server-data")}),
        (tmp_path / "server-data", {"RB_DATA_DIR": "."}),
    ):
        done = run_token(cwd, **env)
        assert done.returncode == 0, done.stderr
        claims = verify_token(secret, done.stdout.strip())
        assert (claims.site, str(claims.role)) == ("tw-hanoi", "operator")
    configured = "configured-secret-configured-secret-0123"
    done = run_token(tmp_path, RB_SECRET=configured)
    assert done.returncode == 0, done.stderr
    assert verify_token(configured, done.stdout.strip()).site == "tw-hanoi"
