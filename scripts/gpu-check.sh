#!/usr/bin/env bash
# The GPU leg in one call of the lent NVIDIA machine (see docs/design.md, "The GPU leg").
#
#   here:  scripts/gpu-check.sh prepare     # downloads the wheels the device lacks into .whl/
#   there: device run, carry [".whl"], command "bash scripts/gpu-check.sh", timeout_s 540
#
# There it installs Keras from the carried wheels, runs the GPU tests under KERAS_BACKEND=jax,
# benchmarks the full and fast networks alone (sizes x batches x precisions), converts a
# 1280x720 clip file to file, and times pytorch/examples' TransformerNet in the same run.
# Every result is JSON under $OUT; each stage has its own time limit so a slow one cannot
# take the others' results with it.
set -uo pipefail
cd "$(dirname "$0")/.."

WHEELS=(keras==3.15.1 namex==0.1.0 optree==0.20.0)

if [ "${1:-}" = prepare ]; then
  grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo /.whl/ >>.git/info/exclude
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d .whl "${WHEELS[@]}" || exit
  ls -la .whl
  echo "travels: $(( ($(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1) + $(du -cb .whl/* | tail -1 | cut -f1)) / 1048576 )) MiB of 64"
  exit
fi

OUT=${OUT:-/tmp/gpu-check}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 KERAS_BACKEND=jax PYTHONPATH=/tmp/site:$PWD
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit
stage() { # stage NAME SECONDS COMMAND...: run with a time limit, log to $OUT/NAME.log
  local name=$1 limit=$2; shift 2
  echo "== $name (limit ${limit}s)"
  local t=$SECONDS
  timeout "$limit" "$@" >"$OUT/$name.log" 2>&1
  echo "   rc $? in $((SECONDS - t))s"
  tail -n 25 "$OUT/$name.log"
}
STYLECAM=(python3 -m stylecam.cli)  # timeout runs programs, not shell functions

nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv >"$OUT/gpu.txt" 2>&1
python3 -c "import jax, keras, numpy, cv2; print('jax', jax.__version__, jax.devices(), 'keras', keras.__version__)" >>"$OUT/gpu.txt" 2>&1
cat "$OUT/gpu.txt"

# ffmpeg: the bundled one (imageio-ffmpeg) is too large to carry beside the models; use the
# device's own where it has one, else the file-to-file stages say they were skipped.
FFMPEG=$(command -v ffmpeg || true)
if [ -n "$FFMPEG" ] && ! python3 -c "import imageio_ffmpeg" 2>/dev/null; then
  mkdir -p /tmp/site/imageio_ffmpeg
  printf 'def get_ffmpeg_exe():\n    return %r\n' "$FFMPEG" >/tmp/site/imageio_ffmpeg/__init__.py
fi

# Network alone at 1280x720 first: the issue's headline figures.
SIZES_REST=640x360,1920x1080,3840x2160
BENCH=(bench --device gpu --no-pipeline --json --repeats 5 --warmup 2 --batch 1,8,32
       --precision float32,bfloat16,float16 --style starry-night --style starry-night.fast)
stage bench-1280x720 110 "${STYLECAM[@]}" "${BENCH[@]}" --size 1280x720 -o "$OUT/bench-1280x720.json"
stage peer-1280x720 90 python3 scripts/peer_transformer_net.py --sizes 1280x720 -o "$OUT/peer-1280x720.json"

if [ -n "$FFMPEG" ]; then
  "$FFMPEG" -v error -y -stream_loop 5 -i samples/city.mp4 -vf scale=1280:720 -c:v libx264 -crf 18 \
    -c:a copy /tmp/city-720p.mp4
  for enc in libx264 nvenc; do
    stage "convert-$enc" 60 "${STYLECAM[@]}" convert /tmp/city-720p.mp4 -o "/tmp/out-$enc.mp4" --device gpu \
      --batch 32 --encoder "$enc" --overwrite
  done
  TESTS=(tests/test_gpu.py)
else
  echo "no ffmpeg on this machine: file-to-file stages skipped" | tee "$OUT/convert-skipped.log"
  TESTS=(tests/test_gpu.py -k "paints_what_the_cpu_paints or too_large")
fi
stage tests 120 python3 -m pytest -q -p no:cacheprovider "${TESTS[@]}"

stage bench-rest 110 "${STYLECAM[@]}" "${BENCH[@]}" --size "$SIZES_REST" -o "$OUT/bench-rest.json"
stage peer-rest 80 python3 scripts/peer_transformer_net.py --sizes "$SIZES_REST" -o "$OUT/peer-rest.json"
echo "== done in ${SECONDS}s; results in $OUT"
