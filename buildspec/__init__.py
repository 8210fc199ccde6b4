"""Buildspec templates rendered by the client (data only)."""
