"""``cbdeploy init``: recognise the project and write a commented starter config.

Recognised, by files at the project root: the Node package manager (lockfile
of pnpm, yarn or npm, or a bare ``package.json``), then the deploy tool: AWS
CDK (``cdk.json``), Serverless (``serverless.yml``), SAM (``template.yaml``
with ``Transform: AWS::Serverless``) or Terraform (``*.tf``); a ``Dockerfile``
(next to a deploy tool, Docker needs ``privilegedMode`` and gets ``ecrLogin``;
alone, it becomes ``[images.app]``, which cbdeploy builds and pushes to ECR); a Python project (``pyproject.toml``,
``requirements.txt``). Anything else gets a generic config whose deploy step
fails until it is filled in, so nothing is mistaken for a deploy.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from cbdeploy.client.config.load import default_name

ADMIN_POLICY = "arn:aws:iam::aws:policy/AdministratorAccess"
PLACEHOLDER_DEPLOY = (
    "echo 'cbdeploy: put your deploy command in [pipeline] deploy of cbdeploy.toml' >&2; exit 1"
)


@dataclass(frozen=True)
class Detection:
    """What init recognised, and the pipeline it chose."""

    labels: tuple[str, ...]
    install: tuple[str, ...] = ()
    build: tuple[str, ...] = ()
    deploy: tuple[str, ...] = (PLACEHOLDER_DEPLOY,)
    environment: dict[str, str] = field(default_factory=dict)
    outputs_file: str | None = None
    docker: bool = False
    image: bool = False  # the Dockerfile is the deliverable: [images.app]
    admin_policy: bool = False
    cache_paths: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


def _node(root: Path) -> tuple[str, tuple[str, ...], str, str] | None:
    """(manager, install commands, exec prefix, run-script prefix) for a Node project."""
    if not (root / "package.json").is_file():
        return None
    if (root / "pnpm-lock.yaml").is_file():
        return (
            "pnpm",
            ("corepack enable", "pnpm install --frozen-lockfile"),
            "pnpm exec",
            "pnpm run",
        )
    if (root / "yarn.lock").is_file():
        berry = (root / ".yarnrc.yml").is_file()
        install = "yarn install --immutable" if berry else "yarn install --frozen-lockfile"
        return "yarn", ("corepack enable", install), "yarn", "yarn run"
    lock = (root / "package-lock.json").is_file() or (root / "npm-shrinkwrap.json").is_file()
    return "npm", ("npm ci" if lock else "npm install",), "npx", "npm run"


def _has_build_script(root: Path) -> bool:
    try:
        package = json.loads((root / "package.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    scripts = package.get("scripts") if isinstance(package, dict) else None
    return isinstance(scripts, dict) and "build" in scripts


def _is_sam(root: Path) -> bool:
    for name in ("template.yaml", "template.yml"):
        try:
            text = (root / name).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if re.search(r"AWS::Serverless", text):
            return True
    return False


def _python_install(root: Path) -> tuple[str, ...]:
    if (root / "requirements.txt").is_file():
        return ("pip install -r requirements.txt",)
    if (root / "pyproject.toml").is_file():
        return ("pip install .",)
    return ()


@dataclass(frozen=True)
class _Found:
    """What every recogniser starts from: the Node setup, a Dockerfile, Python's install."""

    node: bool
    docker: bool
    labels: tuple[str, ...]
    install: tuple[str, ...]
    build: tuple[str, ...]
    exec_prefix: str
    cache_paths: tuple[str, ...]
    python_install: tuple[str, ...]

    def result(
        self,
        label: str,
        *,
        deploy: tuple[str, ...] = (PLACEHOLDER_DEPLOY,),
        install: tuple[str, ...] | None = None,
        build: tuple[str, ...] | None = None,
        environment: dict[str, str] | None = None,
        outputs_file: str | None = None,
        admin_policy: bool = True,
        notes: tuple[str, ...] = (),
        image: bool = False,
    ) -> Detection:
        extra = ["Dockerfile"] if self.docker and label != "Docker image" else []
        return Detection(
            labels=(label, *self.labels, *extra),
            install=self.install if install is None else install,
            build=self.build if build is None else build,
            deploy=deploy,
            environment=environment or {},
            outputs_file=outputs_file,
            docker=self.docker,
            image=image,
            admin_policy=admin_policy,
            cache_paths=self.cache_paths,
            notes=notes,
        )


def _found(root: Path) -> _Found:
    node = _node(root)
    labels: tuple[str, ...] = ()
    install: tuple[str, ...] = ()
    build: tuple[str, ...] = ()
    exec_prefix = "npx"
    cache_paths: tuple[str, ...] = ()
    if node:
        manager, install, exec_prefix, run = node
        labels = (manager,)
        if _has_build_script(root):
            build = (f"{run} build",)
        cache_paths = ("node_modules/**/*",)
    return _Found(
        node=node is not None,
        docker=(root / "Dockerfile").is_file(),
        labels=labels,
        install=install,
        build=build,
        exec_prefix=exec_prefix,
        cache_paths=cache_paths,
        python_install=_python_install(root),
    )


def detect(root: Path) -> Detection:
    """Recognise the project at ``root`` (see the module docstring): the first tool that fits."""
    found = _found(root)
    for recognise in (_cdk, _serverless, _sam, _terraform, _docker_image):
        detection = recognise(root, found)
        if detection is not None:
            return detection
    if found.python_install and not found.node:
        return found.result("Python project", install=found.python_install, admin_policy=False)
    return found.result("Node.js project" if found.node else "project", admin_policy=False)


def _cdk(root: Path, found: _Found) -> Detection | None:
    if not (root / "cdk.json").is_file():
        return None
    # A CDK app in Python (``cdk init --language python``) has no package.json:
    # its own dependencies come from pip, and the CDK CLI from npm's aws-cdk.
    cdk = f"{found.exec_prefix} cdk" if found.node else "npx aws-cdk"
    return found.result(
        "AWS CDK app",
        install=found.install if found.node else found.python_install,
        deploy=(f"{cdk} deploy --all --require-approval never --outputs-file cdk-outputs.json",),
        outputs_file="cdk-outputs.json",
    )


def _serverless(root: Path, found: _Found) -> Detection | None:
    if not any((root / f"serverless.{ext}").is_file() for ext in ("yml", "yaml", "ts", "js", "json")):
        return None
    return found.result(
        "Serverless Framework service",
        deploy=(f'{found.exec_prefix} serverless deploy --stage "$STAGE" --region "$REGION"',),
    )


def _sam(root: Path, found: _Found) -> Detection | None:
    if not _is_sam(root):
        return None
    return found.result(
        "AWS SAM application",
        install=found.install or found.python_install,
        build=(*found.build, "sam build"),
        deploy=(
            'sam deploy --stack-name "$CBDEPLOY_PROJECT-$STAGE" --region "$REGION" '
            "--resolve-s3 --capabilities CAPABILITY_IAM CAPABILITY_NAMED_IAM "
            "CAPABILITY_AUTO_EXPAND --no-confirm-changeset --no-fail-on-empty-changeset",
        ),
    )


def _terraform(root: Path, found: _Found) -> Detection | None:
    if not any(root.glob("*.tf")):
        return None
    return found.result(
        "Terraform configuration",
        install=(
            'curl -fsSL -o /tmp/terraform.zip "https://releases.hashicorp.com/terraform/'
            '${TF_VERSION}/terraform_${TF_VERSION}_linux_amd64.zip"',
            "unzip -o -q /tmp/terraform.zip -d /usr/local/bin",
        ),
        build=("terraform init -input=false", 'terraform workspace select -or-create "$STAGE"'),
        deploy=(
            "terraform apply -input=false -auto-approve",
            # Outputs without the sensitive ones, as a flat {name: value} object.
            "terraform output -json | python3 -c 'import json, sys; "
            'print(json.dumps({k: v["value"] for k, v in json.load(sys.stdin).items() '
            'if not v.get("sensitive")}))\' > tf-outputs.json',
        ),
        environment={"TF_VERSION": "1.9.8", "TF_IN_AUTOMATION": "1"},
        outputs_file="tf-outputs.json",
        notes=(
            "Terraform state must live in a remote backend (for example S3): the",
            "build container is thrown away after every deploy.",
        ),
    )


def _docker_image(root: Path, found: _Found) -> Detection | None:
    if not found.docker:
        return None
    return found.result(
        "Docker image",
        deploy=('echo "image: $IMAGE_URI_APP (tag $IMAGE_TAG_APP)"',),
        admin_policy=False,
        image=True,
        notes=(
            "[images.app] is built and pushed to ECR after build; add the command that",
            "rolls $IMAGE_URI_APP out (ECS, Lambda, App Runner...) to deploy.",
        ),
    )


def _toml_string(value: str) -> str:
    # Literal strings read better for shell commands full of double quotes.
    if "'" not in value and "\n" not in value and '"' in value:
        return f"'{value}'"
    return json.dumps(value, ensure_ascii=False)


def _toml_list(values: tuple[str, ...]) -> str:
    if not values:
        return "[]"
    if len(values) == 1 and len(values[0]) < 60:
        return f"[{_toml_string(values[0])}]"
    return "[\n" + "".join(f"  {_toml_string(v)},\n" for v in values) + "]"


def starter_config(root: Path) -> tuple[str, Detection]:
    """The commented ``cbdeploy.toml`` text for the project at ``root``."""
    found = detect(root)
    name = default_name(root.resolve()) or "app"
    lines = [
        *_head(found, name),
        *_SCRIPTS_EXAMPLE,
        *[f"{key} = {_toml_string(value)}" for key, value in found.environment.items()],
        *_SECRETS_EXAMPLE,
        *_codebuild(found),
        *_outputs(found),
        *_TAIL,
    ]
    return "\n".join(lines), found


def _head(found: Detection, name: str) -> list[str]:
    lines = [
        "# cbdeploy.toml: how `cbdeploy deploy --stage <stage> --region <region>` runs this",
        "# project's deploy on AWS CodeBuild. Written by `cbdeploy init` for: "
        + ", ".join(found.labels)
        + ".",
        "# Every key below can be overridden per stage in [stages.<name>] at the end.",
        "",
        "# Part of AWS resource names (cbdeploy-<name>_<stage>): a-z, 0-9 and '-', up to 40.",
        f"name = {_toml_string(name)}",
        "",
        "# Shell commands run in order in the build, from the project root. The commands of",
        "# one step share a bash (cd and export carry over); the first failure stops the",
        "# deploy. Every step sees STAGE, REGION and CBDEPLOY_PROJECT.",
        "[pipeline]",
        f"install = {_toml_list(found.install)}",
        f"build = {_toml_list(found.build)}",
        f"deploy = {_toml_list(found.deploy)}",
    ]
    return lines + [f"# {note}" for note in found.notes]


_SCRIPTS_EXAMPLE = [
    "",
    "# Scripts run around the deploy step, named in [hooks]:",
    "# [hooks]",
    '# beforeDeploy = ["check"]',
    '# afterDeploy = ["smoke-test"]',
    "#",
    "# [scripts.check]",
    '# executeCommand = "npm test"          # or executeCommands = ["...", "..."]',
    '# environment = { CI = "true" }        # on top of the build\'s environment',
    '# workingDirectory = "."',
    "",
    "# Plain environment variables for every step (STAGE, REGION, CBDEPLOY_* and",
    "# CODEBUILD_* are reserved).",
    "[environment]",
]
_SECRETS_EXAMPLE = [
    "",
    "# Secrets, resolved by CodeBuild inside the build and never sent as plain text:",
    '# "ssm:/parameter/name" or "secretsmanager:secret-id[:json-key[:stage[:version]]]".',
    "[secrets]",
    '# DATABASE_URL = "ssm:/my-app/database-url"',
    '# API_TOKEN = "secretsmanager:my-app/token:apiToken"',
]


def _codebuild(found: Detection) -> list[str]:
    docker_tool = found.docker and not found.image  # a deploy tool that runs docker itself
    lines = [
        "",
        "[codebuild]",
        "# BUILD_GENERAL1_SMALL | MEDIUM | LARGE | XLARGE | 2XLARGE, or BUILD_LAMBDA_1GB..10GB",
        'computeType = "BUILD_GENERAL1_SMALL"',
        'image = "aws/codebuild/standard:7.0"   # must have Python 3.9+ for the pipeline runner',
        "# true gives the build a Docker daemon ([images] turn it on themselves)",
        f"privilegedMode = {'true' if docker_tool else 'false'}",
        "# true logs Docker in to this account's ECR registry before the pipeline",
        f"ecrLogin = {'true' if docker_tool else 'false'}",
        "timeoutInMinutes = 60                  # 5 to 2160",
        "# Managed policies for the build's role: what your deploy may do in the account.",
    ]
    if found.admin_policy:
        lines += [
            "# Deploy tools create all kinds of resources; narrow this down if you can.",
            f"policies = [{_toml_string(ADMIN_POLICY)}]",
        ]
    else:
        lines += ["policies = []", f"# policies = [{_toml_string(ADMIN_POLICY)}]"]
    lines += [
        "# Caches kept between builds: CodeBuild's local caches (modes docker-layer, source,",
        '# custom; "custom" keeps the paths listed), or { type = "s3", paths = [...] } in',
        '# the cbdeploy bucket. Default: { type = "none" }.',
    ]
    modes = ['"docker-layer"'] if docker_tool else []
    if found.cache_paths:
        modes.append('"custom"')
        paths = ", ".join(_toml_string(p) for p in found.cache_paths)
        lines.append(
            f'cache = {{ type = "local", modes = [{", ".join(modes)}], paths = [{paths}] }}'
        )
    elif modes:
        lines.append(f'cache = {{ type = "local", modes = [{", ".join(modes)}] }}')
    else:
        lines.append(
            '# cache = { type = "local", modes = ["source", "custom"], paths = [".cache/**/*"] }'
        )
    lines += [
        "# Your own buildspec instead of cbdeploy's pipeline runner (then [pipeline] is unused):",
        '# buildspec = "buildspec.yml"',
    ]
    return lines


def _outputs(found: Detection) -> list[str]:
    lines = [
        "",
        "# A JSON object the deploy writes; printed as Outputs at the end of `cbdeploy deploy`.",
        "[outputs]",
    ]
    if found.outputs_file:
        lines.append(f"file = {_toml_string(found.outputs_file)}")
    else:
        lines.append('# file = "outputs.json"')
    if found.image:
        lines += [
            "",
            "# Docker images built in the build after [pipeline] build and pushed to ECR, with a",
            "# layer cache in the repository; later steps get IMAGE_URI_<NAME> and IMAGE_TAG_<NAME>.",
            "[images.app]",
            'context = "."                          # dockerfile = "Dockerfile", target = "..."',
            '# repository = "my-app"                # default cbdeploy/<name>/<stage>/app',
        ]
    return lines


_TAIL = [
    "",
    "# What to put in the archive besides git's selection (see also .cbdeployignore).",
    "[package]",
    "includeSubmodules = false",
    "followExternalLinks = false            # true ships the content of links out of the project",
    "",
    "# Per-stage overrides of any key above, deep-merged over it.",
    "[stages.production]",
    "confirm = true                         # ask before deploying, unless --yes",
    '# codebuild.computeType = "BUILD_GENERAL1_MEDIUM"',
    "",
]
