#!/usr/bin/python3
"""Posts one image as Home Assistant's DeepStack integrations do (the deepstack-python client):

    requests.post(url, files={"image": image_bytes}, data={"api_key": ..., "min_confidence": ...}, timeout=...)

and prints {"status": <HTTP status>, "body": <parsed JSON answer>} on stdout. Used by
e2e/test/http.e2e.test.ts against a real gateway.

usage: deepstack_client.py URL IMAGE_FILE API_KEY [MIN_CONFIDENCE]
"""
import json
import sys

import requests


def main() -> int:
    url, image_file, api_key = sys.argv[1:4]
    data = {"api_key": api_key}
    if len(sys.argv) > 4:
        data["min_confidence"] = float(sys.argv[4])
    with open(image_file, "rb") as f:
        image_bytes = f.read()
    response = requests.post(url, files={"image": image_bytes}, data=data, timeout=60)
    print(json.dumps({"status": response.status_code, "body": response.json()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
