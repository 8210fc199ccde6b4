import unittest

from shop_shared import format_price


class AlertTest(unittest.TestCase):
    def test_alert_threshold_is_formatted(self) -> None:
        self.assertEqual(format_price(100000), "1000.00 EUR")


if __name__ == "__main__":
    unittest.main()
