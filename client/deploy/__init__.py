"""A deploy from the user's side: preflight, the runner plan and buildspec, upload, the service that starts the build. No printing."""
