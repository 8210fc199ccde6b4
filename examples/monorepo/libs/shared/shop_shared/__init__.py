"""Code shared by the api and worker services of the example workspace."""

from shop_shared.prices import format_price, total

__all__ = ["format_price", "total"]
