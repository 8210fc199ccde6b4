"""Render src/*.html into dist/ with the stage and commit stamped in."""

import os
import pathlib
import shutil

src = pathlib.Path("src")
dist = pathlib.Path("dist")
shutil.rmtree(dist, ignore_errors=True)
dist.mkdir()
stamp = {
    "title": os.environ.get("SITE_TITLE", "site"),
    "stage": os.environ.get("STAGE", "?"),
    "commit": (os.environ.get("CBDEPLOY_GIT_COMMIT") or "uncommitted")[:12],
}
for page in sorted(src.iterdir()):
    text = page.read_text()
    if page.suffix == ".html":
        text = text.format(**stamp)
    (dist / page.name).write_text(text)
    print(f"built {page.name} ({len(text)} bytes)")
