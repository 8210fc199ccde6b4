"""What botocore knows without a session: region names and the AWS config's profiles.

botocore is imported inside the functions, so the CLI's options can use them
without loading botocore for ``--help``.
"""

from __future__ import annotations


def known_regions() -> frozenset[str]:
    """Every region name botocore knows, in every partition.

    Read from botocore's endpoint data, not through a session: a session
    reads AWS_PROFILE and fails on an unknown profile before we could say so.
    Where botocore's loader would read its own ``data/endpoints.json`` (no file
    of that name in ``~/.aws/models``), that file is read directly: importing
    the loader costs a tenth of a second before every command that checks
    ``--region`` (issue 16, target 4).
    """
    path = _builtin_endpoints()
    if path is not None:
        import json

        with open(path, "rb") as handle:
            partitions = json.load(handle)["partitions"]
    else:
        from botocore.loaders import create_loader

        partitions = create_loader().load_data("endpoints")["partitions"]
    return frozenset(region for partition in partitions for region in partition["regions"])


def _builtin_endpoints() -> str | None:
    """botocore's ``data/endpoints.json`` when its loader would read that one, else None."""
    import importlib.util
    import os

    models = os.path.join(os.path.expanduser("~"), ".aws", "models")  # the loader's first path
    if any(os.path.exists(os.path.join(models, "endpoints" + ext)) for ext in (".json", ".json.gz")):
        return None
    spec = importlib.util.find_spec("botocore")
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    found = [os.path.join(f, "data", "endpoints.json") for f in folders]
    return next((p for p in found if os.path.isfile(p)), None)


def profile_names() -> list[str]:
    """The profiles in the AWS config files; none when those files cannot be read or parsed."""
    try:
        import botocore.session

        return list(botocore.session.Session().available_profiles)
    except Exception:  # a broken AWS config must not break the shell's completion
        return []


def profile_region(profile: str | None) -> str | None:
    """The ``region`` the AWS config file gives ``profile`` (None: AWS_PROFILE's, else default).

    None when the profile sets none, does not exist, or the files cannot be read:
    the credentials step says what is wrong with a profile, in its own words.
    """
    try:
        import botocore.session

        region = botocore.session.Session(profile=profile).get_scoped_config().get("region")
    except Exception:  # a missing profile or a broken file is reported where credentials load
        return None
    return region if isinstance(region, str) and region else None


def profile_files() -> tuple[str, str]:
    """Where the AWS tools keep profiles: the config and the credentials file."""
    import os

    return (os.environ.get("AWS_CONFIG_FILE") or "~/.aws/config",
            os.environ.get("AWS_SHARED_CREDENTIALS_FILE") or "~/.aws/credentials")
