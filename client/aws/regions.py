"""What botocore knows without a session: region names and the AWS config's profiles.

botocore is imported inside the functions, so the CLI's options can use them
without loading botocore for ``--help``.
"""

from __future__ import annotations


def known_regions() -> frozenset[str]:
    """Every region name botocore knows, in every partition.

    Read from botocore's endpoint data, not through a session: a session
    reads AWS_PROFILE and fails on an unknown profile before we could say so.
    """
    from botocore.loaders import create_loader

    partitions = create_loader().load_data("endpoints")["partitions"]
    return frozenset(region for partition in partitions for region in partition["regions"])


def profile_names() -> list[str]:
    """The profiles in the AWS config files; none when those files cannot be read or parsed."""
    try:
        import botocore.session

        return list(botocore.session.Session().available_profiles)
    except Exception:  # a broken AWS config must not break the shell's completion
        return []
