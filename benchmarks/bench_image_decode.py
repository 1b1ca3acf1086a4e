"""Image decoding throughput per core against what one training step consumes.

The data sets store images as encoded bytes (``data/tfds_builders/common.py``) and the input
pipeline decodes every frame it reads (``data/images.decode_image``). Timed, one thread, for
each decoder that is importable (Pillow always; simplejpeg and OpenCV when installed, JPEG
only for simplejpeg):

* 256-px synthetic frame as PNG (``small_256`` / ``medium_256``, how the builder stores it);
* 512-px synthetic frame as PNG (``large_512``) and as JPEG (quality 90);
* 1920x1080 JPEG (quality 90) of a synthetic frame upscaled with mild noise, PoseTrack's size;

and ``decode_image`` itself (what the pipeline calls: simplejpeg for JPEG when importable,
else Pillow). Each rate is the median of ``--repeats`` runs of ``--seconds`` after a warm-up;
every decoder's pixels are checked against Pillow's (max |difference| printed; 0 = same).
Consumption: ``--batch`` frames every ``--step_time`` seconds (SpatialNet; a TemporalNet pair
example reads two frames, so twice that), and the cores that decoding alone then needs.

Run:  python benchmarks/bench_image_decode.py [--step_time 0.15] [--batch 4]   (about 30 s)

Measured (AMD EPYC, 2 logical cores; NOT an idle machine: a training job kept both cores busy
meanwhile, 1.0 core of other load on average, and this ran under ``nice -n 19``, so the rates
are lower bounds). Pillow 12.3.0, simplejpeg 1.9.0 (installed for the measurement only; not
a dependency), OpenCV not installed; step 0.15 s, batch 4 -> 26.7 frames/s (53.3 for pairs):

  image                    bytes  decoder       images/s     ms  cores (frames)  (pairs)  diff
  256 px PNG (synthetic)  109294  pillow           525.6   1.90            0.05     0.10     0
                                  decode_image     530.2   1.89            0.05     0.10     0
  512 px PNG (synthetic)  425503  pillow           162.9   6.14            0.16     0.33     0
                                  decode_image     140.5   7.12            0.19     0.38     0
  512 px JPEG q90          43846  pillow           540.0   1.85            0.05     0.10     0
                                  simplejpeg      1080.3   0.93            0.02     0.05     0
                                  decode_image    1263.4   0.79            0.02     0.04     0
  1920x1080 JPEG q90      351694  pillow            85.0  11.77            0.31     0.63     0
                                  simplejpeg       133.4   7.50            0.20     0.40     0
                                  decode_image     145.2   6.89            0.18     0.37     0

simplejpeg decodes JPEG 1.4-2x faster than Pillow (1.4x in a separate check) with the same
pixels (diff 0), hence ``decode_image`` uses it when importable. Decoding alone needs at most
0.3 of a core (Pillow, 1080p JPEG) to feed single frames at this rate, 0.6 for pairs; the
synthetic PNGs 0.05-0.2.
(The ``decode_image`` vs ``simplejpeg`` differences are noise under the load.)
"""
from __future__ import annotations

import argparse
import io
import statistics
import time

import numpy as np
from PIL import Image

from artrack_jax import machine
from artrack_jax.data import images
from artrack_jax.data import synthetic

try:
  import cv2  # pylint: disable=g-import-not-at-top
except ImportError:
  cv2 = None


def _frame(size: int) -> np.ndarray:
  """One synthetic frame (people, background, crowd) at ``size`` px."""
  _, frames = synthetic.generate_clip('val', 0, num_frames=1, image_size=size)
  return np.asarray(frames[0], np.uint8)


def _encode(image: np.ndarray, fmt: str) -> bytes:
  if fmt == 'PNG':
    return images.encode_png(image)
  buf = io.BytesIO()
  Image.fromarray(image).save(buf, format='JPEG', quality=90)
  return buf.getvalue()


def _full_hd(base: np.ndarray, rng: np.random.Generator) -> np.ndarray:
  """1920x1080: the 512-px frame upscaled (bilinear) to 1920 wide, cropped, mild noise."""
  big = np.asarray(Image.fromarray(base).resize((1920, 1920), Image.Resampling.BILINEAR))
  noise = rng.normal(0, 4, (1080, 1920, 3)).round().astype(np.int16)
  big = big[420:1500].astype(np.int16) + noise
  return np.clip(big, 0, 255).astype(np.uint8)


def decoders(fmt: str) -> dict:
  out = {'pillow': images.decode_pillow}
  if fmt == 'JPEG' and images.simplejpeg is not None:
    out['simplejpeg'] = lambda data: images.simplejpeg.decode_jpeg(data, colorspace='RGB')
  if cv2 is not None:
    out['opencv'] = lambda data: cv2.cvtColor(
        cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
  out['decode_image'] = images.decode_image
  return out


def rate(fn, data: bytes, seconds: float, repeats: int) -> float:
  """Images per second (median of ``repeats`` runs of about ``seconds``), one thread."""
  fn(data)
  rates = []
  for _ in range(repeats):
    n, start = 0, time.perf_counter()
    while True:
      fn(data)
      n += 1
      elapsed = time.perf_counter() - start
      if elapsed >= seconds:
        break
    rates.append(n / elapsed)
  return statistics.median(rates)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--step_time', type=float, default=0.15,
                      help='seconds per training step (default 0.15)')
  parser.add_argument('--batch', type=int, default=4, help='frames per step (default 4)')
  parser.add_argument('--seconds', type=float, default=1.0, help='seconds per timing run')
  parser.add_argument('--repeats', type=int, default=3)
  args = parser.parse_args()
  print(machine.host_description())
  import PIL  # pylint: disable=g-import-not-at-top
  versions = [f'Pillow {PIL.__version__}']
  versions.append('simplejpeg ' + (getattr(images.simplejpeg, '__version__', '?')
                                   if images.simplejpeg is not None else 'not installed'))
  versions.append('OpenCV ' + (cv2.__version__ if cv2 is not None else 'not installed'))
  print(', '.join(versions))
  need = args.batch / args.step_time
  print(f'consumption: batch {args.batch} / step {args.step_time} s = {need:.1f} frames/s '
        f'(pairs: {2 * need:.1f})\n')

  rng = np.random.default_rng(0)
  f256, f512 = _frame(256), _frame(512)
  cases = [('256 px PNG (synthetic)', _encode(f256, 'PNG'), 'PNG'),
           ('512 px PNG (synthetic)', _encode(f512, 'PNG'), 'PNG'),
           ('512 px JPEG q90', _encode(f512, 'JPEG'), 'JPEG'),
           ('1920x1080 JPEG q90', _encode(_full_hd(f512, rng), 'JPEG'), 'JPEG')]
  print(f'{"image":24s} {"bytes":>9s}  {"decoder":12s} {"images/s":>9s} {"ms":>7s} '
        f'{"cores for frames":>16s} {"pairs":>6s}  max|diff| vs Pillow')
  for name, data, fmt in cases:
    reference = images.decode_pillow(data)
    for dec_name, fn in decoders(fmt).items():
      diff = int(np.abs(fn(data).astype(np.int16) - reference).max())
      r = rate(fn, data, args.seconds, args.repeats)
      print(f'{name:24s} {len(data):9d}  {dec_name:12s} {r:9.1f} {1000 / r:7.2f} '
            f'{need / r:16.2f} {2 * need / r:6.2f}  {diff}', flush=True)
    print()


if __name__ == '__main__':
  with machine.LoadMonitor():
    main()
