"""The project's configuration: load and validate cbdeploy.toml, stored defaults, the state folder, `init`'s starter files."""
