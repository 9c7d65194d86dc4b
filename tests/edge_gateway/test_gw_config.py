"""Configuration fails fast with messages that name the key and its variable."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from edge_gateway.config import load_config
from edge_gateway.errors import ConfigError
from tests.edge_gateway.gw_helpers import ROOT

_MINIMAL = 'gateway_id = "gw-1"\noutbox_path = "/var/lib/gtx-gateway/outbox.sqlite3"\n[upstream]\nhost = "cloud"\n'


@pytest.fixture(autouse=True)
def _no_ambient_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in __import__("os").environ if n.startswith("GTX_GW_")]:
        monkeypatch.delenv(name)


def _toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(text)
    return path


def _error(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(_toml(tmp_path, text))
    return str(info.value)


def test_toml_defaults_and_environment_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GTX_GW_UPSTREAM__PORT", "8883")
    monkeypatch.setenv("GTX_GW_GATEWAY_ID", "gw-env")
    cfg = load_config(_toml(tmp_path, _MINIMAL))
    assert (cfg.gateway_id, cfg.upstream.host, cfg.upstream.port) == ("gw-env", "cloud", 8883)
    assert (cfg.local.host, cfg.local.port, cfg.batch_size) == ("127.0.0.1", 1883, 100)
    assert cfg.local_client_id() == "gtx-gw-gw-env" and cfg.upstream.password is None


def test_missing_required_settings_name_their_variables(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config()
    text = str(info.value)
    for line in ("gateway_id: Field required (env GTX_GW_GATEWAY_ID)",
                 "upstream.host: Field required (env GTX_GW_UPSTREAM__HOST)",
                 "outbox_path: Field required (env GTX_GW_OUTBOX_PATH)"):
        assert line in text


@pytest.mark.parametrize(("extra", "expected"), [
    ("batch_size = 0\n", "batch_size: Input should be greater than or equal to 1"),
    ('gateway_id = "has space"\n', "gateway_id: String should match pattern"),
    ("outbox_max_mesages = 5\n", "outbox_max_mesages: Extra inputs are not permitted"),
    ("[local]\nport = 70000\n", "local.port: Input should be less than 65536"),
    ('[local]\ntls_cert = "/etc/hostname"\n', "tls_cert and tls_key go together"),
    ('[local]\npassword = "x"\n', "password is set but username is not"),
    ('[local]\ntls_ca = "/nonexistent/ca.pem"\n', "local.tls_ca: Path does not point to a file"),
])
def test_bad_values_are_refused_with_the_key_named(tmp_path: Path, extra: str, expected: str) -> None:
    base = _MINIMAL.replace('gateway_id = "gw-1"\n', "") if extra.startswith("gateway_id") else _MINIMAL
    text = base.replace("[upstream]", extra + "[upstream]", 1) if not extra.startswith("[") else base + extra
    assert expected in _error(tmp_path, text)


def test_a_password_over_plaintext_upstream_needs_an_explicit_opt_in(tmp_path: Path) -> None:
    base = _MINIMAL + 'username = "gw"\npassword = "secret"\n'
    assert "a password without TLS" in _error(tmp_path, base)
    cfg = load_config(_toml(tmp_path, base + "allow_plaintext_credentials = true\n"))
    assert cfg.upstream.password is not None and "secret" not in json.dumps(cfg.redacted())


def test_meter_keys_file_is_checked_at_start(tmp_path: Path) -> None:
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"mtr-1": "ab" * 32, "mtr-2": "abcd", "bad id": "00" * 32}))
    text = _error(tmp_path, f'meter_keys_file = "{keys}"\n' + _MINIMAL)
    assert "mtr-2: public key must be 64 hex characters" in text and "'bad id': not a meter id" in text
    keys.write_text("{not json")
    assert "meter keys file" in _error(tmp_path, f'meter_keys_file = "{keys}"\n' + _MINIMAL)


def test_broken_toml_and_missing_file_are_config_errors(tmp_path: Path) -> None:
    assert "cannot read" in _error(tmp_path, "gateway_id = \n")
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "absent.toml")


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in __import__("os").environ.items() if not k.startswith("GTX_GW_")}
    return subprocess.run([sys.executable, "-m", "edge_gateway", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=30, env={**clean, **(env or {})})


def test_command_line_exits_2_with_the_problems_and_check_config_masks_secrets(tmp_path: Path) -> None:
    bad = _cli()
    assert bad.returncode == 2 and "upstream.host: Field required" in bad.stderr and not bad.stdout
    path = _toml(tmp_path, _MINIMAL + 'tls_ca = "/etc/hostname"\nusername = "gw"\n')
    ok = _cli("--config", str(path), "--check-config", env={"GTX_GW_UPSTREAM__PASSWORD": "hunter2"})
    assert ok.returncode == 0, ok.stderr
    shown = json.loads(ok.stdout)
    assert shown["upstream"]["password"] == "**********" and "hunter2" not in ok.stdout


def test_help_explains_configuration_guarantees_and_exit_status() -> None:
    out = _cli("--help")
    assert out.returncode == 0
    for text in ("--config", "--check-config", "GTX_GW_UPSTREAM__HOST", "meter_keys_file", "outbox full",
                 "exit status", "SIGTERM"):
        assert text in out.stdout


def test_the_documented_example_configuration_loads(tmp_path: Path) -> None:
    readme = (ROOT / "edge_gateway" / "README.md").read_text(encoding="utf-8")
    example = readme.split("```toml\n", 1)[1].split("```", 1)[0]
    ca = tmp_path / "ca.pem"
    ca.write_text("")  # only its existence is checked at load time
    cfg = load_config(_toml(tmp_path, example.replace("/etc/gridtokenx/upstream-ca.pem", str(ca))))
    assert (cfg.gateway_id, cfg.upstream.port, cfg.upstream.tls) == ("site-17", 8883, True)
