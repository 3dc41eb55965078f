import unittest

from fetcher import Client, HTTPError


class FakeTransport:
    def __init__(self, *responses):
        self.responses = list(responses)
        self.urls = []

    def __call__(self, url, timeout):
        self.urls.append(url)
        return self.responses.pop(0)


class ClientTest(unittest.TestCase):
    def test_decodes_json(self):
        transport = FakeTransport((200, b'{"sku": "SKU-0001", "stock": 3}'))
        client = Client("https://inventory.test/api/", transport=transport)
        self.assertEqual(client.get_json("/stock/SKU-0001")["stock"], 3)
        self.assertEqual(transport.urls, ["https://inventory.test/api/stock/SKU-0001"])

    def test_error_status_raises(self):
        client = Client("https://inventory.test", transport=FakeTransport((404, b"")))
        with self.assertRaises(HTTPError) as ctx:
            client.get_json("missing")
        self.assertEqual(ctx.exception.status, 404)


if __name__ == "__main__":
    unittest.main()
