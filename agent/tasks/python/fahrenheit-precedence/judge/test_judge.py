import unittest
from units import fahrenheit_to_celsius


class Judge(unittest.TestCase):
    def test_points(self):
        self.assertAlmostEqual(fahrenheit_to_celsius(212), 100)
        self.assertAlmostEqual(fahrenheit_to_celsius(32), 0)
        self.assertAlmostEqual(fahrenheit_to_celsius(-40), -40)
