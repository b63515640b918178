import unittest
from words import word_counts


class Judge(unittest.TestCase):
    def test_case_and_punctuation(self):
        counts = word_counts("The cat saw the dog. The end, the END")
        self.assertEqual(counts["the"], 4)
        self.assertEqual(counts["end"], 2)
        self.assertNotIn("The", counts)
