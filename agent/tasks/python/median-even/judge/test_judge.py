import unittest
from stats import median


class Judge(unittest.TestCase):
    def test_even(self):
        self.assertEqual(median([4, 1, 3, 2]), 2.5)

    def test_odd(self):
        self.assertEqual(median([5, 1, 3]), 3)
