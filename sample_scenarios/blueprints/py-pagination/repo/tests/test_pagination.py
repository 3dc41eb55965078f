import unittest

from shop.pagination import paginate


class PaginateValidationTest(unittest.TestCase):
    def test_rejects_page_zero(self):
        with self.assertRaises(ValueError):
            paginate([1, 2, 3], 0)

    def test_rejects_non_positive_per_page(self):
        with self.assertRaises(ValueError):
            paginate([1, 2, 3], 1, per_page=0)

    def test_metadata_echoes_request(self):
        _, meta = paginate(list(range(5)), 1, per_page=2)
        self.assertEqual(meta["page"], 1)
        self.assertEqual(meta["per_page"], 2)
        self.assertEqual(meta["total"], 5)


if __name__ == "__main__":
    unittest.main()
