import unittest

from shop_shared import format_price, total


class PricesTest(unittest.TestCase):
    def test_total_is_formatted_in_euros(self) -> None:
        self.assertEqual(format_price(total([120, 95])), "2.15 EUR")


if __name__ == "__main__":
    unittest.main()
