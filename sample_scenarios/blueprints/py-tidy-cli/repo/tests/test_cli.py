import tempfile
import unittest
from pathlib import Path

from tidy.cli import category_for, main, plan_moves


class CategoryTest(unittest.TestCase):
    def test_known_suffixes(self):
        self.assertEqual(category_for(Path("a.JPG")), "images")
        self.assertEqual(category_for(Path("b.pdf")), "documents")
        self.assertEqual(category_for(Path("c.tgz")), "archives")

    def test_unknown_suffix_goes_to_other(self):
        self.assertEqual(category_for(Path("d.bin")), "other")


class MainTest(unittest.TestCase):
    def test_moves_files_and_skips_hidden(self):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            (root / "cat.png").write_text("x")
            (root / ".env").write_text("x")
            self.assertEqual(len(plan_moves(root)), 1)
            self.assertEqual(main([tmp]), 0)
            self.assertTrue((root / "images" / "cat.png").is_file())
            self.assertTrue((root / ".env").is_file())


if __name__ == "__main__":
    unittest.main()
