"""``cbdeploy.toml`` is found by searching upward from the working directory, as git finds
its repository: the nearest file wins, and the deploy's header names the file used.

The deploys run in-process (CliRunner) against the emulator over loopback, from a
subfolder of the project (the working directory changed with monkeypatch.chdir).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cbdeploy.client.cli.main import main
from cbdeploy.client.config.load import find_config, load_config
from cbdeploy.client.errors import ConfigError


def test_the_nearest_file_at_or_above_the_folder_wins(tmp_path: Path) -> None:
    (tmp_path / "cbdeploy.toml").write_text('name = "outer"\n')
    inner = tmp_path / "services" / "api"
    (inner / "src" / "deep").mkdir(parents=True)
    (inner / "cbdeploy.toml").write_text('name = "api"\n')
    (inner / "src" / "cbdeploy.toml").mkdir()  # a folder of that name is no config
    assert find_config(inner / "src" / "deep") == inner / "cbdeploy.toml"
    assert find_config(inner) == inner / "cbdeploy.toml"
    assert find_config(tmp_path / "services") == tmp_path / "cbdeploy.toml"
    loaded = load_config(inner / "src" / "deep", "dev")
    assert (loaded.name, loaded.root, loaded.path) == ("api", inner, inner / "cbdeploy.toml")


def test_no_file_up_to_the_root_says_where_it_looked(tmp_path: Path) -> None:
    assert find_config(Path("/")) is None or (Path("/") / "cbdeploy.toml").is_file()
    if find_config(tmp_path) is not None:
        pytest.skip("a cbdeploy.toml above the temporary folder")
    with pytest.raises(ConfigError) as raised:
        load_config(tmp_path, "dev")
    assert raised.value.message == (
        f"No config file: no cbdeploy.toml in {tmp_path.resolve()} or any folder above it."
    )


def workspace(tmp_path: Path) -> tuple[Path, Path]:
    """(workspace root, service folder): a monorepo whose root holds a [workspace] file."""
    app = f"s{uuid.uuid4().hex[:10]}"
    root = tmp_path / "mono"
    service = root / "services" / "api"
    (service / "src").mkdir(parents=True)
    (root / "cbdeploy.toml").write_text('name = "mono"\n[workspace]\nservices = ["services/*"]\n')
    (service / "cbdeploy.toml").write_text(
        f'name = "{app}"\n[pipeline]\nbuild = ["ls src && echo built-from-$CBDEPLOY_PROJECT"]\n'
    )
    (service / "src" / "main.py").write_text("print('hi')\n")
    return root, service


def deploy(emulator_url: str, tmp_path: Path, *args: str) -> Result:
    return CliRunner().invoke(
        main, ["deploy", "--stage", "dev", "--region", "us-east-1", "--yes", *args],
        env={"AWS_ENDPOINT_URL": emulator_url, "XDG_CONFIG_HOME": str(tmp_path / "xdg")},
    )


def test_deploy_from_a_subfolder_uses_the_services_own_file_and_names_it(
    emulator_url: str, aws_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The service folder sits under a workspace root with its own cbdeploy.toml: the
    nearer file (the service's) is used, and the project is the service folder. The
    header names the file, and so does --json."""
    _, service = workspace(tmp_path)
    monkeypatch.chdir(service / "src")
    result = deploy(emulator_url, tmp_path, "--json")
    assert result.exit_code == 0, result.output
    assert f"Config:   {service / 'cbdeploy.toml'}" in result.stderr
    assert "main.py" in result.stderr  # ls src ran in the service folder's archive
    assert "built-from-" in result.stderr
    assert json.loads(result.stdout)["config"] == str(service / "cbdeploy.toml")


def test_package_list_from_a_subfolder_lists_what_the_service_ships(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The service's own file is found; a workspace's service ships the workspace root."""
    _, service = workspace(tmp_path)
    monkeypatch.chdir(service / "src")
    result = CliRunner().invoke(main, ["package", "--list"],
                                env={"XDG_CONFIG_HOME": str(tmp_path / "xdg")})
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "cbdeploy.toml", "services/api/cbdeploy.toml", "services/api/src/main.py"]
