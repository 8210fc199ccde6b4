"""The command line: the click group, shared options, completion, one module per command.

The only package that imports click."""
