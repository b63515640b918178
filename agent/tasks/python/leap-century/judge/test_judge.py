import unittest
from calendar_rules import is_leap


class Judge(unittest.TestCase):
    def test_centuries(self):
        self.assertFalse(is_leap(1900))
        self.assertTrue(is_leap(2000))

    def test_plain(self):
        self.assertTrue(is_leap(2024))
        self.assertFalse(is_leap(2023))
