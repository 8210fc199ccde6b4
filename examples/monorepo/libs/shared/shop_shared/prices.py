"""Prices in cents, formatted for people."""


def total(cents: list[int]) -> int:
    return sum(cents)


def format_price(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d} EUR"
