import unittest
from names import snake_case


class Judge(unittest.TestCase):
    def test_acronym(self):
        self.assertEqual(snake_case("parseHTTPResponse"), "parse_http_response")
        self.assertEqual(snake_case("HTTPServer"), "http_server")

    def test_plain(self):
        self.assertEqual(snake_case("userId"), "user_id")
        self.assertEqual(snake_case("UserName"), "user_name")
