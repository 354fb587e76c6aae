#!/usr/bin/python3
"""Independent oracle for ssd-core: OpenCV dnn's own PriorBox and DetectionOutput layers.

Usage: opencv_ssd_oracle.py JOB_DIR

JOB_DIR/job.json: {"spec": <SsdSpec with priorbox heads>, "batch": N,
                   "nms": {"scoreThreshold", "iouThreshold", "topK", "keepTopK"}}
JOB_DIR/loc.f32, JOB_DIR/conf.f32: raw little-endian float32, [N, P, 4] and [N, P, C].

Builds a Caffe prototxt holding only inputs, PriorBox, Concat and DetectionOutput layers (no
weights are needed), runs it with cv2.dnn.readNetFromCaffe, and prints JSON:
{"opencv": version, "priors": [...P*4], "variances": [...P*4],
 "detections": [[image, label, score, xmin, ymin, xmax, ymax], ...]}  (zero padding removed).
Needs the Debian package python3-opencv (which brings numpy).
"""
import json
import os
import sys

import cv2
import numpy as np


def fmt(v):
    return repr(float(v)) if isinstance(v, float) else str(v)


def head_layer(i, head):
    p = []
    for s in head["minSizes"]:
        p.append(f"min_size: {fmt(s)}")
    for s in head.get("maxSizes", []):
        p.append(f"max_size: {fmt(s)}")
    for r in head.get("aspectRatios", []):
        p.append(f"aspect_ratio: {fmt(r)}")
    # OpenCV defaults clip to true and requires variance, so both are always written out.
    p.append(f"flip: {'true' if head.get('flip', True) else 'false'}")
    p.append(f"clip: {'true' if head.get('clip', False) else 'false'}")
    for v in head.get("variance", [0.1]):
        p.append(f"variance: {fmt(v)}")
    p.append(f"offset: {fmt(head.get('offset', 0.5))}")
    for key, name in (("step", "step"), ("stepH", "step_h"), ("stepW", "step_w"),
                      ("imgSize", "img_size"), ("imgH", "img_h"), ("imgW", "img_w")):
        if key in head:
            p.append(f"{name}: {fmt(head[key])}")
    return (f'layer {{ name: "prior{i}" type: "PriorBox" bottom: "fmap{i}" bottom: "data" top: "prior{i}"\n'
            f'  prior_box_param {{ {" ".join(p)} }} }}\n')


def build_prototxt(spec, nms, num_priors, batch):
    heads = spec["priors"]["heads"]
    num_classes = len(spec["labels"])
    inp = spec["input"]
    text = 'name: "ssd_core_oracle"\n'
    text += f'input: "data"\ninput_shape {{ dim: 1 dim: 3 dim: {inp["height"]} dim: {inp["width"]} }}\n'
    for i, head in enumerate(heads):
        h, w = head["featureMap"]
        text += f'input: "fmap{i}"\ninput_shape {{ dim: 1 dim: 1 dim: {h} dim: {w} }}\n'
    text += f'input: "mbox_loc"\ninput_shape {{ dim: {batch} dim: {num_priors * 4} }}\n'
    text += f'input: "mbox_conf_flatten"\ninput_shape {{ dim: {batch} dim: {num_priors * num_classes} }}\n'
    for i, head in enumerate(heads):
        text += head_layer(i, head)
    bottoms = " ".join(f'bottom: "prior{i}"' for i in range(len(heads)))
    text += f'layer {{ name: "mbox_priorbox" type: "Concat" {bottoms} top: "mbox_priorbox" concat_param {{ axis: 2 }} }}\n'
    text += ('layer { name: "detection_out" type: "DetectionOutput" bottom: "mbox_loc" '
             'bottom: "mbox_conf_flatten" bottom: "mbox_priorbox" top: "detection_out"\n'
             f'  detection_output_param {{ num_classes: {num_classes} share_location: true '
             f'background_label_id: {spec["backgroundLabelId"]} '
             f'nms_param {{ nms_threshold: {fmt(float(nms["iouThreshold"]))} top_k: {nms["topK"]} }} '
             f'code_type: {spec["codeType"]} keep_top_k: {nms["keepTopK"]} '
             f'variance_encoded_in_target: {"true" if spec["varianceEncodedInTarget"] else "false"} '
             f'confidence_threshold: {fmt(float(nms["scoreThreshold"]))} }} }}\n')
    return text


def main():
    job_dir = sys.argv[1]
    with open(os.path.join(job_dir, "job.json")) as f:
        job = json.load(f)
    spec, nms, batch = job["spec"], job["nms"], job["batch"]
    if spec["priors"]["kind"] != "priorbox":
        raise SystemExit("oracle supports priorbox specs only")
    num_classes = len(spec["labels"])
    loc = np.fromfile(os.path.join(job_dir, "loc.f32"), dtype="<f4")
    conf = np.fromfile(os.path.join(job_dir, "conf.f32"), dtype="<f4")
    num_priors = loc.size // (4 * batch)
    if loc.size != batch * num_priors * 4 or conf.size != batch * num_priors * num_classes:
        raise SystemExit(f"bad input sizes: loc {loc.size}, conf {conf.size}, batch {batch}")

    prototxt = os.path.join(job_dir, "oracle.prototxt")
    with open(prototxt, "w") as f:
        f.write(build_prototxt(spec, nms, num_priors, batch))
    net = cv2.dnn.readNetFromCaffe(prototxt)
    inp = spec["input"]
    net.setInput(np.zeros((1, 3, inp["height"], inp["width"]), np.float32), "data")
    for i, head in enumerate(spec["priors"]["heads"]):
        h, w = head["featureMap"]
        net.setInput(np.zeros((1, 1, h, w), np.float32), f"fmap{i}")
    net.setInput(loc.reshape(batch, num_priors * 4), "mbox_loc")
    net.setInput(conf.reshape(batch, num_priors * num_classes), "mbox_conf_flatten")
    priors, dets = net.forward(["mbox_priorbox", "detection_out"])
    rows = dets.reshape(-1, 7)
    # OpenCV pads to keep_top_k rows per image with zeros (or zero scores when nothing is found).
    rows = rows[rows[:, 2] > 0]
    json.dump({
        "opencv": cv2.__version__,
        "priors": priors[0, 0].astype(float).tolist(),
        "variances": priors[0, 1].astype(float).tolist(),
        "detections": rows.astype(float).tolist(),
    }, sys.stdout)


if __name__ == "__main__":
    main()
