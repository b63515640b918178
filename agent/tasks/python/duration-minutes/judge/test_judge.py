import unittest
from duration import parse_duration


class Judge(unittest.TestCase):
    def test_units(self):
        self.assertEqual(parse_duration("1h30m"), 5400)
        self.assertEqual(parse_duration("2m5s"), 125)
        self.assertEqual(parse_duration("3h"), 10800)
