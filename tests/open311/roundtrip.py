"""Open311 round trip with the real `georeport` client (PyPI, 0.3.x) against a running gateway.

    roundtrip.py post BASE API_KEY PHOTO        -> prints the new service_request_id
    roundtrip.py read BASE ID EXPECTED_STATUS   -> reads it back in JSON and XML, checks the status

georeport is read-only, so the POST goes through `requests` (its own dependency), as a
multipart form with a `media` file part (the gateway's extension; a 1022 report needs a photo).
"""
import json
import sys

import requests
from georeport import GeoReport


def post(base, key, photo):
    with open(photo, "rb") as f:
        r = requests.post(
            f"{base}/open311/v2/requests.json",
            data={
                "api_key": key,
                "service_code": "chieu_sang",
                "lat": "10.54",
                "long": "106.41",
                "address_string": "12 Hùng Vương, Phường 1, Tân An",
                "first_name": "An",
                "last_name": "Nguyễn Văn",
                "phone": "0912 345 678",
                "description": "Đèn đường trước số 12 đường Hùng Vương bị hỏng, cả đoạn đường tối om từ tối qua.",
            },
            files={"media": ("den-hong.jpg", f, "image/jpeg")},
            timeout=60,
        )
    assert r.status_code == 201, (r.status_code, r.text)
    answer = r.json()
    assert "LA-" in answer[0]["service_notice"], answer
    print(answer[0]["service_request_id"])


def read(base, rid, expected):
    for fmt in ("json", "xml"):
        client = GeoReport(root_address=f"{base}/open311/v2", output_format=fmt)
        services = client.get_service_list()
        codes = [s["service_code"] for s in services]
        assert "chieu_sang" in codes and "traffic" in codes, codes
        definition = client.get_service_definition("chieu_sang")
        assert definition["service_code"] == "chieu_sang", definition
        one = client.get_service_request(rid)
        assert one["service_request_id"] == rid, one
        assert one["status"] == expected, (fmt, one)
        assert one["service_code"] == "chieu_sang", one
        listed = client.get_service_requests(service_request_id=rid)
        if isinstance(listed, dict):  # xmltodict: a single <request> is not a list
            listed = [listed]
        assert [r["service_request_id"] for r in listed] == [rid], listed
        everything = json.dumps(one, ensure_ascii=False)
        for private in ("Nguyễn", "0912", "912345678", "Hùng Vương", "tối om"):
            assert private not in everything, (fmt, private, everything)
    print(json.dumps({"status": expected}))


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "post":
        post(*sys.argv[2:5])
    elif mode == "read":
        read(*sys.argv[2:5])
    else:
        sys.exit(f"unknown mode {mode}")
