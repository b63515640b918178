import unittest
from settings import merge


class Judge(unittest.TestCase):
    def test_nested(self):
        base = {"db": {"host": "a", "port": 1}, "debug": False}
        over = {"db": {"port": 2}, "debug": True}
        self.assertEqual(merge(base, over), {"db": {"host": "a", "port": 2}, "debug": True})
        self.assertEqual(base, {"db": {"host": "a", "port": 1}, "debug": False})
