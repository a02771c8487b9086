"""Settings refuse typos: unknown keys name the nearest known one; near-miss IOP_* variables warn."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from iop_workflow.errors import EXIT_INVALID, DefinitionError
from iop_workflow.settings import Settings, default_config_path, env_typos, load_settings
from tests.cli_helpers import Cli


def test_a_misspelt_variable_warns_naming_both_and_the_command_still_works(tmp_path: Path) -> None:
    cli = Cli(tmp_path, f"sqlite:///{tmp_path / 'iop.db'}")
    done = cli("--json", "init", env={"IOP_DATABSE_URL": "sqlite:///elsewhere.db"})
    assert done.status == 0, done.err
    assert "IOP_DATABSE_URL" in done.err and "IOP_DATABASE_URL" in done.err
    assert (tmp_path / "iop.db").exists() and not (tmp_path / "elsewhere.db").exists()


def test_an_unrelated_variable_is_left_alone(tmp_path: Path) -> None:
    cli = Cli(tmp_path, f"sqlite:///{tmp_path / 'iop.db'}")
    done = cli("--json", "init", env={"IOP_FOO_BAR": "1", "IOP_FUZZ_EXAMPLES": "10"})
    assert done.status == 0, done.err
    assert "IOP_FOO_BAR" not in done.err and "warning" not in done.err


@pytest.mark.parametrize(
    ("text", "key", "nearest"),
    [
        ('[iop]\ndatabse_url = "sqlite:///x.db"\n', "iop.databse_url", "iop.database_url"),
        ("[server]\nprot = 8081\n", "server.prot", "server.port"),
        ('[auth.oidc]\nisuer = "https://idp"\n', "auth.oidc.isuer", "auth.oidc.issuer"),
        ("[lead_time]\nidle_days = 5\n", "lead_time", "lead_times"),
    ],
)
def test_an_unknown_key_in_a_file_names_the_nearest(tmp_path: Path, text: str, key: str, nearest: str) -> None:
    config = tmp_path / "typo.toml"
    config.write_text(text, encoding="utf-8")
    with pytest.raises(DefinitionError) as caught:
        load_settings(config, environ={})
    assert caught.value.key == key and repr(nearest) in caught.value.problem
    assert caught.value.exit_status == EXIT_INVALID
    cli = Cli(tmp_path, f"sqlite:///{tmp_path / 'iop.db'}")
    done = cli("--json", "--config", str(config), "init")
    assert done.status == EXIT_INVALID == 6
    error = json.loads(done.out)["error"]
    assert error["details"]["key"] == key and nearest in error["message"]


def test_only_near_misses_are_reported() -> None:
    env = {
        "IOP_DATABSE_URL": "x",
        "IOP_LANGG": "en",
        "IOP_FOO_BAR": "1",
        "IOP_RACE_CASES": "4",
        "IOP_CRASH_FULL": "1",
        "IOP_TEST_PG_URL": "x",
        "IOP_DATABASE_URL": "y",
        "IOP_CONFIG": "z",
    }
    assert env_typos(env) == [("IOP_DATABSE_URL", "IOP_DATABASE_URL"), ("IOP_LANGG", "IOP_LANG")]


def test_the_shipped_file_states_the_defaults_the_code_has() -> None:
    """config/iop.toml documents each default; it may not say another value than the program uses
    when a key is left out (one default per setting: issue #15, item 4)."""
    shipped, bare = load_settings(default_config_path(), environ={}), Settings()
    for name in (
        "timezone",
        "case_ref_pattern",
        "min_agreement_months",
        "lang",
        "lead_times",
        "server",
        "oidc",
        "files",
        "decision_bodies",
    ):
        assert getattr(shipped, name) == getattr(bare, name), name
