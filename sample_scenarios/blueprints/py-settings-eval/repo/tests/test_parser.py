import unittest

from settings_loader import SettingsError, load_settings, parse_settings


class ParseSettingsTest(unittest.TestCase):
    def test_literals(self):
        settings = parse_settings("workers = 4\nratio = 0.25\nhosts = ['a', 'b']\n")
        self.assertEqual(settings, {"workers": 4, "ratio": 0.25, "hosts": ["a", "b"]})

    def test_comments_and_blank_lines_are_skipped(self):
        self.assertEqual(parse_settings("# comment\n\nx = 1\n"), {"x": 1})

    def test_plain_text_is_kept(self):
        self.assertEqual(parse_settings("name = nightly export")["name"], "nightly export")

    def test_line_without_equals_is_an_error(self):
        with self.assertRaises(SettingsError):
            parse_settings("just some words")

    def test_example_file(self):
        settings = load_settings("example.conf")
        self.assertEqual(settings["retry"], {"attempts": 3, "backoff": 0.5})
        self.assertIs(settings["dry_run"], False)


if __name__ == "__main__":
    unittest.main()
