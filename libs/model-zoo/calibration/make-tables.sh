#!/usr/bin/env bash
# Measures the committed calibration tables of the built-in INT8 models (run from the repository
# root after `npx nx run model-cli:build`; needs python3-skimage's photos). The photos are split
# into a calibration set and an evaluation set (never the same image in both); each table records
# its images by sha256. The INT8 models are then made from these tables alone (`model prepare`).
set -euo pipefail
FACES=node_modules/@vladmandic/face-api/demo
SK=/usr/lib/python3/dist-packages/skimage/data
OUT=libs/model-zoo/calibration
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
model() { node apps/model-cli/dist/main.js "$@"; }

# Calibration: 3 face-api demo photos and 7 skimage photos without faces.
CALIB=(--calibration $FACES/sample1.jpg --calibration $FACES/sample3.jpg --calibration $FACES/sample5.jpg)
SK_CALIB=()
for f in coffee.png motorcycle_left.png rocket.jpg hubble_deep_field.jpg retina.jpg gravel.png clock_motion.png; do SK_CALIB+=(--calibration $SK/$f); done
# Evaluation: the other 3 face-api demo photos, and 15 skimage photos (3 with a face, or a cat's).
EVAL=(--eval $FACES/sample2.jpg --eval $FACES/sample4.jpg --eval $FACES/sample6.jpg)
SK_EVAL=()
for f in astronaut.png camera.png chelsea.png coins.png motorcycle_right.png moon.png grass.png brick.png cell.png ihc.png text.png color.png horse.png logo.png page.png; do SK_EVAL+=(--eval $SK/$f); done

model prepare faceapi-ssd-mobilenetv1 --dir "$WORK"
model quantize "$WORK/faceapi-ssd-mobilenetv1.onnx" "${CALIB[@]}" "${SK_CALIB[@]}" "${EVAL[@]}" "${SK_EVAL[@]}" \
  --method percentile --percentile 99.99 --keep-fp32 heads \
  --note 'libs/model-zoo/calibration/make-tables.sh: face-api demo sample1, sample3, sample5 and 7 skimage photos; evaluated on sample2, sample4, sample6 and 15 other skimage photos' \
  --table $OUT/faceapi-ssd-mobilenetv1.json -o "$WORK/faceapi-ssd-mobilenetv1-int8.onnx"

# The seeded VOC model's weights are meaningless, so its detections are too: agreement is reported,
# not required (--min-agreement 0); it exists for the speed of the real network's shapes.
model prepare mobilenet-ssd-voc-300 --dir "$WORK"
model quantize "$WORK/mobilenet-ssd-voc-300.onnx" "${SK_CALIB[@]}" "${SK_EVAL[@]}" \
  --method percentile --percentile 99.99 --keep-fp32 heads --min-agreement 0 \
  --note 'libs/model-zoo/calibration/make-tables.sh: 7 skimage photos; evaluated on 15 other skimage photos (seeded weights: agreement informative only)' \
  --table $OUT/mobilenet-ssd-voc-300.json -o "$WORK/mobilenet-ssd-voc-300-int8.onnx"
