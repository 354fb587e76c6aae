#!/usr/bin/python3
"""OpenCV dnn as the oracle for bn-fuse's Caffe importer.

Usage: opencv_caffe_oracle.py JOB_DIR

JOB_DIR/job.json: {"prototxt": path, "caffemodel": path, "input": "data", "shape": [N, C, H, W],
                   "outputs": ["mbox_loc", "mbox_conf_flatten", "detection_out", ...],
                   "per_image": false}
JOB_DIR/input.f32: the input blob, raw little-endian float32, NCHW.
Or, with "images": [path, ...] and "blob": {"mean": [m0, m1, m2], "scale": s, "swap_rb": bool}
in the job, the input is OpenCV's own: cv2.imread of each image and cv2.dnn.blobFromImages(images,
scale, (W, H) from "shape", mean, swap_rb, crop=False), i.e. the images warped to the input size
with INTER_LINEAR and (x - mean) * scale; the blob is returned too, as the output "blob".

Loads the net with cv2.dnn.readNetFromCaffe (OpenCV's own Caffe importer: its own prototxt and
caffemodel parsing, BatchNorm/Scale handling, PriorBox and DetectionOutput layers), runs it on the
CPU with the default (OpenCV) backend, writes each requested output to JOB_DIR/out<i>.f32 and
prints JSON {"opencv": version, "outputs": [{"name", "shape", "file"}], "ms": forward time}.
With per_image, the images are run one by one (batch 1) and the outputs concatenated on axis 0
(DetectionOutput rows get their image id rewritten).
Needs the Debian package python3-opencv (which brings numpy).
"""
import json
import os
import sys
import time

import cv2
import numpy as np


def main():
    job_dir = sys.argv[1]
    with open(os.path.join(job_dir, "job.json")) as f:
        job = json.load(f)
    shape = job["shape"]
    blob = None
    if job.get("images"):
        b = job["blob"]
        images = [cv2.imread(p, cv2.IMREAD_COLOR) for p in job["images"]]
        for p, img in zip(job["images"], images):
            if img is None:
                raise SystemExit(f"cv2.imread cannot read {p}")
        data = cv2.dnn.blobFromImages(images, b["scale"], (shape[3], shape[2]), tuple(b["mean"]), b["swap_rb"], False)
        blob = data
    else:
        data = np.fromfile(os.path.join(job_dir, "input.f32"), dtype="<f4").reshape(shape)
    net = cv2.dnn.readNetFromCaffe(job["prototxt"], job["caffemodel"])
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
    names = job["outputs"]
    started = time.perf_counter()
    if job.get("per_image"):
        results = [[] for _ in names]
        for n in range(shape[0]):
            net.setInput(data[n:n + 1], job["input"])
            outs = net.forward(names)
            for i, (name, out) in enumerate(zip(names, outs)):
                out = np.array(out, copy=True)
                if name == job.get("detection_output"):
                    rows = out.reshape(-1, 7)
                    rows[:, 0] = n
                    out = rows.reshape(1, 1, -1, 7)
                    results[i].append(out)
                else:
                    results[i].append(out)
        outs = [np.concatenate(r, axis=2 if name == job.get("detection_output") else 0) for name, r in zip(names, results)]
    else:
        net.setInput(data, job["input"])
        outs = net.forward(names)
    ms = (time.perf_counter() - started) * 1000
    if blob is not None:
        names = names + ["blob"]
        outs = list(outs) + [blob]
    described = []
    for i, (name, out) in enumerate(zip(names, outs)):
        path = os.path.join(job_dir, f"out{i}.f32")
        np.ascontiguousarray(out, dtype="<f4").tofile(path)
        described.append({"name": name, "shape": list(out.shape), "file": path})
    json.dump({"opencv": cv2.__version__, "outputs": described, "ms": ms}, sys.stdout)


if __name__ == "__main__":
    main()
