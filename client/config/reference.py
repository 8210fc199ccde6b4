"""docs/config.md, generated: every key of ``cbdeploy.toml`` with type, default, example, meaning.

Run ``python -m cbdeploy.client.config.reference > docs/config.md`` (``make docs``).
The keys' names come from the schema's key sets and their defaults and allowed
values from the model and the schema's constants; tests/unit/test_config_reference.py
fails when the schema accepts a key this page does not describe, when an example
does not load, or when docs/config.md differs from what this module prints.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from cbdeploy.client.config import codebuild, images, model, schema, workspace

CB = model.CodeBuildConfig()


@dataclass(frozen=True)
class Key:
    key: str  # dotted, "<name>" for a name of the user's choosing
    type: str
    default: str
    example: str  # TOML, as written in the file (under its table when it has one)
    meaning: str


def _choices(values: tuple[str, ...]) -> str:
    return " | ".join(f"`{v}`" for v in values)


KEYS: tuple[Key, ...] = (
    Key("name", "string", "the folder's name", 'name = "shop-api"',
        "The app's name: part of every AWS name of the app "
        "(1 to 40 of `a-z`, `0-9`, `-`)."),
    Key("confirm", "boolean", "`false`", "confirm = true",
        "Ask before deploying (`--yes` answers for you)."),
    Key("dependsOn", "list of service names", "`[]`", 'dependsOn = ["database"]',
        "In a service's file: the services of the workspace that deploy before it."),
    Key("paths", "list of gitwildmatch patterns", "the service's folder",
        'paths = ["services/api/**", "shared/**"]',
        "In a service's file: the files (relative to the workspace root) whose changes "
        "affect it."),
    Key("pipeline.install", "list of strings", "`[]`", 'install = ["npm ci"]',
        "Shell steps run first in the build (install tools and dependencies)."),
    Key("pipeline.build", "list of strings", "`[]`", 'build = ["npm run build"]',
        "Shell steps that build the project."),
    Key("pipeline.deploy", "list of strings", "`[]`", 'deploy = ["npx cdk deploy --all"]',
        "Shell steps that deploy it; they see `IMAGE_URI_<NAME>` of `[images]`."),
    Key("hooks.beforeDeploy", "list of script names", "`[]`", 'beforeDeploy = ["migrate"]',
        "`[scripts]` to run after `build`, before `deploy`."),
    Key("hooks.afterDeploy", "list of script names", "`[]`", 'afterDeploy = ["smoke"]',
        "`[scripts]` to run after `deploy`."),
    Key("scripts.<name>.executeCommand", "string", "(one of the two is required)",
        'executeCommand = "python manage.py migrate"',
        "The script's one command (or `executeCommands`, a list)."),
    Key("scripts.<name>.executeCommands", "list of strings", "(one of the two is required)",
        'executeCommands = ["./smoke.sh", "./notify.sh"]',
        "The script's commands, in order."),
    Key("scripts.<name>.environment", "table of strings", "`{}`",
        'executeCommand = "./migrate.sh"\nenvironment = { LOG_LEVEL = "debug" }',
        "Variables for this script only."),
    Key("scripts.<name>.workingDirectory", "path", "the project root",
        'executeCommand = "./migrate.sh"\nworkingDirectory = "backend"', "Where the script runs, relative to the project root."),
    Key("environment.<NAME>", "string", "none", 'NODE_ENV = "production"',
        "A variable of every step (CodeBuild environment variable, at most "
        f"{model.ENV_VALUE_MAX} characters; `STAGE`, `REGION`, `CODEBUILD_*` and "
        "`CBDEPLOY_*` are reserved)."),
    Key("secrets.<NAME>", "secret reference", "none", 'DB_URL = "ssm:/shop/db-url"',
        "A variable CodeBuild fills from Parameter Store (`ssm:/name`) or Secrets Manager "
        "(`secretsmanager:id[:json-key[:version-stage[:version-id]]]`); the stage's role may "
        "read exactly these, and deploy checks they exist first."),
    Key("outputs.file", "path", "none", 'file = "outputs.json"',
        "A JSON object the pipeline writes; shown at the end and in `--json`'s `outputs`."),
    Key("package.includeSubmodules", "boolean", "`false`", "includeSubmodules = true",
        "Ship the files of git submodules too."),
    Key("package.followExternalLinks", "boolean", "`false`", "followExternalLinks = true",
        "Ship the target of a symbolic link that points outside the project."),
    Key("codebuild.computeType", _choices(model.COMPUTE_TYPES), f"`{CB.compute_type}`",
        'computeType = "BUILD_GENERAL1_MEDIUM"', "The build machine's size."),
    Key("codebuild.environmentType", _choices(model.ENVIRONMENT_TYPES),
        f"`{CB.environment_type}` (`LINUX_LAMBDA_CONTAINER` for a Lambda compute type)",
        'environmentType = "ARM_CONTAINER"', "The build environment's kind."),
    Key("codebuild.image", "string", f"`{CB.image}`",
        'image = "aws/codebuild/amazonlinux2-x86_64-standard:5.0"',
        "The build image (a CodeBuild-managed image or an image URI)."),
    Key("codebuild.privilegedMode", "boolean", "`false` (`true` with `[images]`)",
        "privilegedMode = true", "Run Docker in the build (not on Lambda compute types)."),
    Key("codebuild.timeoutInMinutes", "integer, 5 to 2160", f"`{CB.timeout_in_minutes}`",
        "timeoutInMinutes = 30", "CodeBuild stops the build after this long."),
    Key("codebuild.policies", "list of IAM policy ARNs", "`[]`",
        'policies = ["arn:aws:iam::aws:policy/AdministratorAccess"]',
        "Managed policies attached to the stage's role: what the pipeline may do in AWS."),
    Key("codebuild.buildspec", "path", "cbdeploy's own", 'buildspec = "buildspec.yml"',
        f"Your own buildspec instead of cbdeploy's (at most {model.BUILDSPEC_MAX} bytes)."),
    Key("codebuild.ecrLogin", "boolean", "`false`", "ecrLogin = true",
        "Let the role call `ecr:GetAuthorizationToken` (to pull from ECR)."),
    Key("codebuild.cache.type", _choices(model.CACHE_TYPES), "`none`", 'type = "s3"',
        "CodeBuild's cache: on the build host (`local`) or in the stage's S3 prefix (`s3`)."),
    Key("codebuild.cache.modes", "list of " + _choices(model.CACHE_MODES),
        "all three with `type = \"local\"`", 'type = "local"\nmodes = ["docker-layer"]',
        "What the local cache keeps (local only)."),
    Key("codebuild.cache.paths", "list of strings", "`[]`", 'type = "s3"\npaths = ["node_modules/**/*"]',
        "Paths the cache keeps between builds (needs a cache type)."),
    Key("images.<name>.context", "path", "`.`", 'context = "services/api"',
        "The Docker build context, relative to the project root."),
    Key("images.<name>.dockerfile", "path", "`Dockerfile`", 'dockerfile = "Dockerfile"',
        "The Dockerfile, relative to the context."),
    Key("images.<name>.repository", "string", "`cbdeploy/<app>/<stage>/<name>`",
        'repository = "shop-api"', "The ECR repository bootstrap creates for the image."),
    Key("images.<name>.buildArgs", "table of strings", "`{}`",
        'buildArgs = { NODE_ENV = "production" }', "`docker build --build-arg`s."),
    Key("images.<name>.target", "string", "none", 'target = "runtime"',
        "The stage of a multi-stage Dockerfile to build."),
    Key("images.<name>.platform", "string", "the build's", 'platform = "linux/amd64"',
        "The image's platform."),
    Key("images.<name>.cache", "boolean", "`true`", "cache = false",
        "Reuse layers from the repository."),
    Key("stages.<stage>", "table", "none", '[stages.prod]\nconfirm = true',
        "Overrides for one stage: any key above except `name`, merged over the base."),
    Key("workspace.services", "list of glob patterns", "none", 'services = ["services/*"]',
        "In a monorepo's root file: the folders holding services (each with a cbdeploy.toml)."),
)

# The keys each table accepts, as the schema checks them (the test compares).
SCHEMA_TABLES: dict[str, frozenset[str]] = {
    "": schema.TOP_KEYS | schema.WORKSPACE_TOP_KEYS | {"stages"},
    "pipeline": schema._PIPELINE_KEYS,
    "package": schema._PACKAGE_KEYS,
    "codebuild": codebuild.CODEBUILD_KEYS,
    "images.<name>": images.IMAGE_KEYS,
    "workspace": workspace.WORKSPACE_KEYS,
}


# What a placeholder becomes in an example's table header.
EXAMPLE_NAMES = {"<name>": "api", "<stage>": "prod"}


def _table_of(key: str) -> str:
    return key.rpartition(".")[0]


def example_table(table: str) -> str:
    """``images.<name>`` -> ``images.api``: the header an example is written under."""
    for placeholder, name in EXAMPLE_NAMES.items():
        table = table.replace(placeholder, name)
    return table


def render() -> str:
    lines = [
        "# `cbdeploy.toml` reference",
        "",
        "<!-- Generated by `python -m cbdeploy.client.config.reference` (`make docs`) "
        "from client/config/; do not edit. -->",
        "",
        "Every key of `cbdeploy.toml`. `<name>` and `<NAME>` are names you choose; "
        "a key under a table is written in that table (`[codebuild]`, "
        "`[images.api]`, `[stages.prod]`). Unknown keys are errors naming the file and line.",
        "",
    ]
    table = None
    for entry in KEYS:
        where = _table_of(entry.key)
        if where != table:
            table = where
            lines += [f"## {'[' + where + ']' if where else 'Top level'}", ""]
        lines += [
            f"### `{entry.key}`",
            "",
            entry.meaning,
            "",
            f"- Type: {entry.type}",
            f"- Default: {entry.default}",
            "",
            "```toml",
            *([f"[{example_table(where)}]"] if where and not entry.example.startswith("[") else []),
            entry.example,
            "```",
            "",
        ]
    return "\n".join(lines).rstrip("\n") + "\n"


def main() -> None:
    sys.stdout.write(render())


if __name__ == "__main__":
    main()
