"""beforeDeploy hook: refuse to publish a site with missing pages."""

import os
import pathlib
import sys

missing = [
    name
    for name in os.environ["REQUIRED_FILES"].split(",")
    if not (pathlib.Path("dist") / name).is_file()
]
if missing:
    print(f"missing from dist/: {', '.join(missing)}")
    sys.exit(1)
print("all pages present")
