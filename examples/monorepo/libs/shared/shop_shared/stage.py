"""Names every service of the example derives from the stage, the same way."""

import os


def bucket_name(account: str) -> str:
    return f"cbdeploy-shop-{os.environ['STAGE']}-{account}"
