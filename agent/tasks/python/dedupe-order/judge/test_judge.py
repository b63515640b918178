import unittest
from dedupe import dedupe


class Judge(unittest.TestCase):
    def test_order(self):
        self.assertEqual(dedupe(["b", "a", "b", "c", "a"]), ["b", "a", "c"])
        self.assertEqual(dedupe([3, 1, 3, 2, 1, 0]), [3, 1, 2, 0])
