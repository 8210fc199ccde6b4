"""Everything the user sees: the console, the terminal and live display, GitHub Actions, the --json report."""
