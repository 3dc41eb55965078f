import unittest

from reports.formatting import format_currency
from reports.sources import read_sales
from reports.summary import weekly_summary


class ReportTest(unittest.TestCase):
    def test_format_currency(self):
        self.assertEqual(format_currency(123456), "1,234.56 EUR")
        self.assertEqual(format_currency(-5, "USD"), "-0.05 USD")

    def test_summary_mentions_every_region(self):
        sales = read_sales("region,product,amount_cents\nNorth,kettle,2599\nSouth,mug,899\n")
        text = weekly_summary(sales, "2024-W18")
        self.assertIn("North", text)
        self.assertIn("South", text)
        self.assertTrue(text.endswith("Total: 34.98 EUR\n"))


if __name__ == "__main__":
    unittest.main()
