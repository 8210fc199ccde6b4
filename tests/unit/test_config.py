"""cbdeploy.toml loading: defaults, stage merge, and errors naming key, file and line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from cbdeploy.client.config.lines import find_key_line
from cbdeploy.client.config.load import default_name, load_config, load_package_config
from cbdeploy.client.config.model import (
    CacheConfig,
    CodeBuildConfig,
    Hooks,
    PackageConfig,
    Pipeline,
    Script,
)
from cbdeploy.client.config.schema import secret_reference
from cbdeploy.client.errors import ConfigError

SPEC_EXAMPLE = """\
name = "my-api"                 # optional; default: the directory name

[pipeline]                      # shell commands run in order in the build
install = ["npm ci"]
build = ["npm run build"]
deploy = ["npx cdk deploy --all --require-approval never"]

[hooks]                         # names of scripts run around the deploy step
beforeDeploy = ["check"]
afterDeploy = ["migrate"]

[scripts.check]
executeCommands = ["npm test", "npm run lint"]

[scripts.migrate]
executeCommand = "npx prisma migrate deploy"
environment = { LOG_LEVEL = "info" }

[environment]                   # plain variables for the build
NODE_ENV = "production"

[secrets]                       # resolved by CodeBuild, never sent as plain text
DATABASE_URL = "ssm:/my-api/database-url"
API_TOKEN = "secretsmanager:my-api/token:apiToken"

[codebuild]
computeType = "BUILD_GENERAL1_MEDIUM"
image = "aws/codebuild/standard:7.0"
privilegedMode = false          # true when the deploy builds Docker images
timeoutInMinutes = 60
policies = ["arn:aws:iam::aws:policy/AdministratorAccess"]
cache = { type = "local", modes = ["docker-layer", "custom"], paths = ["node_modules/**/*"] }

[outputs]
file = "outputs.json"           # a JSON object the deploy step writes; printed at the end

[stages.production]             # per-stage overrides of any key above
codebuild.computeType = "BUILD_GENERAL1_LARGE"
confirm = true                  # ask before deploying, unless --yes

[stages.production.environment]
NODE_ENV = "prod"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cbdeploy.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def error_for(tmp_path: Path, text: str, stage: str = "dev") -> ConfigError:
    write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path, stage)
    return info.value


def test_spec_example_loads_with_every_section(tmp_path: Path) -> None:
    write(tmp_path, SPEC_EXAMPLE)
    config = load_config(tmp_path, "dev")
    assert config.name == "my-api"
    assert config.stage == "dev"
    assert config.path == tmp_path.resolve() / "cbdeploy.toml"
    assert config.pipeline == Pipeline(
        install=("npm ci",),
        build=("npm run build",),
        deploy=("npx cdk deploy --all --require-approval never",),
    )
    assert config.hooks == Hooks(before_deploy=("check",), after_deploy=("migrate",))
    assert config.scripts["migrate"] == Script(
        name="migrate",
        commands=("npx prisma migrate deploy",),
        environment={"LOG_LEVEL": "info"},
    )
    assert config.scripts["check"].commands == ("npm test", "npm run lint")
    assert config.environment == {"NODE_ENV": "production"}
    assert config.secrets == {
        "DATABASE_URL": "ssm:/my-api/database-url",
        "API_TOKEN": "secretsmanager:my-api/token:apiToken",
    }
    assert config.codebuild == CodeBuildConfig(
        compute_type="BUILD_GENERAL1_MEDIUM",
        image="aws/codebuild/standard:7.0",
        privileged_mode=False,
        timeout_in_minutes=60,
        policies=("arn:aws:iam::aws:policy/AdministratorAccess",),
        cache=CacheConfig(
            type="local", modes=("docker-layer", "custom"), paths=("node_modules/**/*",)
        ),
    )
    assert config.outputs_file == "outputs.json"
    assert config.confirm is False
    assert config.package == PackageConfig()


def test_stage_override_deep_merges_over_the_base(tmp_path: Path) -> None:
    write(tmp_path, SPEC_EXAMPLE)
    config = load_config(tmp_path, "production")
    assert config.codebuild.compute_type == "BUILD_GENERAL1_LARGE"
    # Keys the override does not mention keep the base's values.
    assert config.codebuild.image == "aws/codebuild/standard:7.0"
    assert config.codebuild.cache.type == "local"
    assert config.confirm is True
    assert config.environment == {"NODE_ENV": "prod"}
    assert config.pipeline.install == ("npm ci",)


def test_stage_override_replaces_arrays(tmp_path: Path) -> None:
    write(
        tmp_path,
        """
        [pipeline]
        deploy = ["a", "b"]
        [stages.prod.pipeline]
        deploy = ["c"]
        """,
    )
    assert load_config(tmp_path, "prod").pipeline.deploy == ("c",)
    assert load_config(tmp_path, "dev").pipeline.deploy == ("a", "b")


def test_defaults_and_name_from_directory(tmp_path: Path) -> None:
    project = tmp_path / "My_Cool.App"
    project.mkdir()
    (project / "cbdeploy.toml").write_text("", encoding="utf-8")
    config = load_config(project, "dev")
    assert config.name == "my-cool-app"
    assert config.codebuild == CodeBuildConfig()
    assert config.codebuild.compute_type == "BUILD_GENERAL1_SMALL"
    assert config.codebuild.environment_type == "LINUX_CONTAINER"
    assert config.pipeline == Pipeline()
    assert config.outputs_file is None


def test_default_name_normalisation() -> None:
    assert default_name(Path("/x/--Hello World!!")) == "hello-world"
    assert default_name(Path("/x/" + "a" * 60)) == "a" * 40
    assert default_name(Path("/x/___")) == ""


def test_config_path_option_and_missing_file(tmp_path: Path) -> None:
    other = tmp_path / "conf" / "deploy.toml"
    other.parent.mkdir()
    other.write_text('name = "other"\n', encoding="utf-8")
    assert load_config(tmp_path, "dev", other).name == "other"
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path, "dev")
    assert "cbdeploy.toml" in info.value.message
    assert info.value.hint is not None and "cbdeploy init" in info.value.hint


def test_invalid_toml_names_file_and_line(tmp_path: Path) -> None:
    error = error_for(tmp_path, 'name = "x"\n[pipeline\n')
    assert "cbdeploy.toml" in error.message
    assert "line 2" in error.message


def test_unknown_top_level_key(tmp_path: Path) -> None:
    error = error_for(tmp_path, 'name = "x"\n\nregion = "us-east-1"\n')
    assert error.message.endswith("cbdeploy.toml:3: region: unknown key")
    assert error.hint is not None and "pipeline" in error.hint


def test_unknown_key_in_stage_override_names_dotted_key_and_line(tmp_path: Path) -> None:
    error = error_for(
        tmp_path,
        """\
        [codebuild]
        computeType = "BUILD_GENERAL1_SMALL"

        [stages.production]
        codebuild.computeTyp = "BUILD_GENERAL1_LARGE"
        """,
    )
    assert f"{tmp_path.resolve() / 'cbdeploy.toml'}:5:" in error.message
    assert "stages.production.codebuild.computeTyp: unknown key" in error.message
    assert error.hint is not None and error.hint.startswith("Did you mean computeType?")


def test_bad_value_in_stage_override_reports_its_own_line(tmp_path: Path) -> None:
    error = error_for(
        tmp_path,
        """\
        [codebuild]
        computeType = "BUILD_GENERAL1_SMALL"

        [stages.production.codebuild]
        computeType = "BUILD_GENERAL1_HUGE"
        """,
        stage="dev",  # a mistake in another stage still shows
    )
    assert ":5: stages.production.codebuild.computeType: 'BUILD_GENERAL1_HUGE' is not allowed" in (
        error.message
    )
    assert error.hint is not None and "BUILD_GENERAL1_LARGE" in error.hint


@pytest.mark.parametrize(
    ("text", "key", "line", "words"),
    [
        ('name = "My API"\n', "name", 1, "not a valid project name"),
        ('name = "' + "a" * 41 + '"\n', "name", 1, "not a valid project name"),
        ("[codebuild]\ntimeoutInMinutes = 4\n", "codebuild.timeoutInMinutes", 2, "out of range"),
        ("[codebuild]\ntimeoutInMinutes = 2161\n", "codebuild.timeoutInMinutes", 2, "out of range"),
        ('[codebuild]\ntimeoutInMinutes = "60"\n', "codebuild.timeoutInMinutes", 2, "a string"),
        ('[codebuild]\nprivilegedMode = "yes"\n', "codebuild.privilegedMode", 2, "true or false"),
        ("[pipeline]\ninstall = [1]\n", "pipeline.install", 2, "strings only"),
        ('[pipeline]\ndeploy = [""]\n', "pipeline.deploy", 2, "empty command"),
        (
            '[hooks]\nbeforeDeploy = ["nope"]\n',
            "hooks.beforeDeploy",
            2,
            "'nope', which is not defined",
        ),
        (
            '[environment]\n"1BAD" = "x"\n',
            "environment.1BAD",
            2,
            "not a valid environment variable",
        ),
        ('[environment]\nSTAGE = "x"\n', "environment.STAGE", 2, "set by cbdeploy"),
        ("[environment]\nLIST = [1]\n", "environment.LIST", 2, "not an array"),
        ('[secrets]\nTOKEN = "plain-text"\n', "secrets.TOKEN", 2, "not a secret reference"),
        ('[secrets]\nTOKEN = "secretsmanager:"\n', "secrets.TOKEN", 2, "not a Secrets Manager"),
        ('[secrets]\nTOKEN = "ssm:"\n', "secrets.TOKEN", 2, "SSM parameter"),
        ("[scripts.x]\nenvironment = {}\n", "scripts.x", 1, "exactly one of executeCommand"),
        ('[scripts.x]\nexecuteCommand = "a"\nrun = "b"\n', "scripts.x.run", 3, "unknown key"),
        (
            '[codebuild]\ncache = { type = "s4" }\n',
            "codebuild.cache.type",
            2,
            "'s4' is not allowed",
        ),
        (
            '[codebuild]\ncache = { type = "s3", modes = ["source"] }\n',
            "codebuild.cache.modes",
            2,
            "local cache only",
        ),
        ('[codebuild]\ncache = { paths = ["a"] }\n', "codebuild.cache.paths", 2, "need a cache"),
        (
            '[codebuild]\npolicies = ["AdministratorAccess"]\n',
            "codebuild.policies",
            2,
            "not an IAM policy ARN",
        ),
        ('[codebuild]\nbuildspec = "missing.yml"\n', "codebuild.buildspec", 2, "does not exist"),
        ('[codebuild]\nbuildspec = "../x.yml"\n', "codebuild.buildspec", 2, "inside the project"),
        (
            '[codebuild]\ncomputeType = "BUILD_LAMBDA_2GB"\nprivilegedMode = true\n',
            "codebuild.privilegedMode",
            3,
            "Lambda",
        ),
        (
            '[codebuild]\nenvironmentType = "LINUX_LAMBDA_CONTAINER"\n',
            "codebuild.environmentType",
            2,
            "does not go with",
        ),
        ('[outputs]\nfile = "/tmp/o.json"\n', "outputs.file", 2, "inside the project"),
        ("[package]\nincludeSubmodules = 1\n", "package.includeSubmodules", 2, "true or false"),
        ('pipeline = "npm ci"\n', "pipeline", 1, "must be a table"),
        ("[stages.Production]\nconfirm = true\n", "stages.Production", 1, "not a valid stage name"),
        ('[stages.prod]\nname = "x"\n', "stages.prod.name", 2, "unknown key"),
    ],
)
def test_bad_values_name_key_file_and_line(
    tmp_path: Path, text: str, key: str, line: int, words: str
) -> None:
    error = error_for(tmp_path, text)
    assert f"cbdeploy.toml:{line}: {key}: " in error.message
    assert words in error.message
    # And the next step: every one has a hint; an unknown key's hint lists the known keys.
    assert error.hint
    assert ("unknown key" in error.message) == ("Known keys here: " in error.hint)


def test_hook_error_in_stage_override_is_named_under_the_stage(tmp_path: Path) -> None:
    error = error_for(
        tmp_path,
        """\
        [scripts.check]
        executeCommand = "true"
        [hooks]
        beforeDeploy = ["check"]
        [stages.prod.hooks]
        afterDeploy = ["migrate"]
        """,
        stage="prod",
    )
    assert ":6: stages.prod.hooks.afterDeploy: names script 'migrate'" in error.message


def test_values_that_are_accepted(tmp_path: Path) -> None:
    (tmp_path / "ci").mkdir()
    (tmp_path / "ci" / "buildspec.yml").write_text("version: 0.2\n", encoding="utf-8")
    write(
        tmp_path,
        """\
        [pipeline]
        deploy = "make deploy"   # a single command may be a string
        [environment]
        PORT = 8080
        DEBUG = true
        [secrets]
        A = "ssm:plain-name"
        B = "secretsmanager:arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf:password"
        C = "secretsmanager:id::AWSPREVIOUS"
        [codebuild]
        computeType = "BUILD_LAMBDA_4GB"
        buildspec = "ci/buildspec.yml"
        ecrLogin = true
        cache = { type = "local" }
        [package]
        includeSubmodules = true
        followExternalLinks = true
        """,
    )
    config = load_config(tmp_path, "dev")
    assert config.pipeline.deploy == ("make deploy",)
    assert config.environment == {"PORT": "8080", "DEBUG": "true"}
    assert config.codebuild.environment_type == "LINUX_LAMBDA_CONTAINER"
    assert config.codebuild.buildspec == "ci/buildspec.yml"
    assert config.codebuild.ecr_login is True
    assert config.codebuild.cache.modes == ("docker-layer", "source", "custom")
    assert config.package == PackageConfig(include_submodules=True, follow_external_links=True)


def test_secret_reference_kinds() -> None:
    assert secret_reference("ssm:/a/b") == ("PARAMETER_STORE", "/a/b")
    assert secret_reference("secretsmanager:tok:key:AWSCURRENT:v1") == (
        "SECRETS_MANAGER",
        "tok:key:AWSCURRENT:v1",
    )
    with pytest.raises(ValueError):
        secret_reference("secretsmanager:a:b:c:d:e")
    with pytest.raises(ValueError):
        secret_reference("vault:/x")


def test_find_key_line_forms() -> None:
    text = textwrap.dedent(
        """\
        name = "x"
        [pipeline]
        deploy = [
          "a = 1",
        ]
        description = '''
        fake = 1
        '''
        [codebuild]
        cache = { type = "local", paths = ["a"] }
        [stages."prod"]
        codebuild . computeType = "X"
        fake = 2
        """
    )
    assert find_key_line(text, "name") == 1
    assert find_key_line(text, "pipeline.deploy") == 3
    assert find_key_line(text, "pipeline.fake") == 2  # inside a string: falls back to the table
    assert find_key_line(text, "codebuild.cache.paths") == 10
    assert find_key_line(text, "stages.prod.codebuild.computeType") == 12
    assert find_key_line(text, "stages.prod.fake") == 13
    assert find_key_line(text, "secrets.X") is None


def test_hook_errors_in_any_stage_show_when_deploying_another(tmp_path: Path) -> None:
    error = error_for(
        tmp_path,
        """\
        [pipeline]
        deploy = ["true"]

        [stages.prod.hooks]
        beforeDeploy = ["smoke"]
        """,
        stage="dev",
    )
    assert ":5: stages.prod.hooks.beforeDeploy: names script 'smoke'" in error.message


def test_package_settings_without_a_config_file(tmp_path: Path) -> None:
    assert load_package_config(tmp_path) == PackageConfig()
    write(
        tmp_path,
        "[package]\nincludeSubmodules = true\n[stages.prod.package]\nfollowExternalLinks = true\n",
    )
    assert load_package_config(tmp_path) == PackageConfig(include_submodules=True)
    assert load_package_config(tmp_path, "prod") == PackageConfig(
        include_submodules=True, follow_external_links=True
    )
    with pytest.raises(ConfigError):
        load_package_config(tmp_path, config_path=tmp_path / "missing.toml")
