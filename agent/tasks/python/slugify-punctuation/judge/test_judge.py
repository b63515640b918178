import unittest
from slug import slugify


class Judge(unittest.TestCase):
    def test_punctuation(self):
        self.assertEqual(slugify("Hello, World!"), "hello-world")

    def test_runs_and_ends(self):
        self.assertEqual(slugify("  --Rust   & Python 3--  "), "rust-python-3")

    def test_plain(self):
        self.assertEqual(slugify("one two"), "one-two")
