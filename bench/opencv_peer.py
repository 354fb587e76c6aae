#!/usr/bin/python3
"""The peer: chuanqi305's demo pipeline in OpenCV DNN, on the same model and images.

Usage: opencv_peer.py JOB.json
JOB.json: {"model": path, "spec": SsdSpec, "numPriors": P, "imagesDir": dir of .jpg, "rounds": n, "threads": n}

Per image, as demo.py does it: cv2.imdecode (BGR), cv2.resize to the input size (INTER_LINEAR),
(x - 127.5) * 0.007843, forward, then DetectionOutput -- OpenCV's own layer, run from a Caffe
prototxt holding only PriorBox/DetectionOutput (built by ssd-core's OpenCV oracle). Prints JSON
{"opencv": version, "threads": n, "imagesPerSecond": [one per round], "detections": count}.
Needs Debian's python3-opencv.
"""
import json
import os
import sys
import time

import cv2
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "libs", "ssd-core", "test", "oracle"))
from opencv_ssd_oracle import build_prototxt  # noqa: E402


def main():
    with open(sys.argv[1]) as f:
        job = json.load(f)
    spec, num_priors, images_dir, rounds = job["spec"], job["numPriors"], job["imagesDir"], job["rounds"]
    cv2.setNumThreads(job["threads"])
    inp = spec["input"]
    net = cv2.dnn.readNetFromONNX(job["model"])
    tail = cv2.dnn.readNetFromCaffe(_write(build_prototxt(spec, spec["nms"], num_priors, 1)))
    fmaps = [np.zeros((1, 1, h, w), np.float32) for h, w in (head["featureMap"] for head in spec["priors"]["heads"])]
    files = sorted(os.path.join(images_dir, n) for n in os.listdir(images_dir) if n.endswith(".jpg"))
    encoded = [np.fromfile(p, dtype=np.uint8) for p in files]
    rates, detections = [], 0
    for r in range(rounds + 1):
        start = time.perf_counter()
        for data in encoded:
            image = cv2.imdecode(data, cv2.IMREAD_COLOR)
            blob = cv2.dnn.blobFromImage(cv2.resize(image, (inp["width"], inp["height"])), inp["scale"], (inp["width"], inp["height"]), tuple(inp["mean"]), swapRB=False)
            net.setInput(blob, inp["name"])
            loc, conf = net.forward([spec["outputs"]["loc"], spec["outputs"]["conf"]])
            tail.setInput(blob, "data")
            for i, fmap in enumerate(fmaps):
                tail.setInput(fmap, f"fmap{i}")
            tail.setInput(loc.reshape(1, -1), "mbox_loc")
            tail.setInput(conf.reshape(1, -1), "mbox_conf_flatten")
            out = tail.forward()
            detections += int(np.count_nonzero(out[0, 0, :, 2] > 0))
        if r > 0:  # round 0 warms up
            rates.append(len(encoded) / (time.perf_counter() - start))
    print(json.dumps({"opencv": cv2.__version__, "threads": cv2.getNumThreads(), "imagesPerSecond": rates, "detections": detections}))


def _write(text):
    path = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"opencv-peer-{os.getpid()}.prototxt")
    with open(path, "w") as f:
        f.write(text)
    return path


if __name__ == "__main__":
    main()
