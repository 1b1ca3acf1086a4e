"""Property-based fuzzing of both file modes of the evaluation command line.

Every corrupted variant of a valid file must give either a clean error (exit code 2, one line
on stderr naming the corrupted file) or exactly the metrics of the valid file (the corruption
hit a field the evaluation does not use). Corruptions: wrong types, booleans, NaN / Infinity /
1e400, JSON nested too deeply or integers too long to read, deleted keys, duplicated or
reordered entries, invalid UTF-8 bytes, truncation, and the file replaced by a directory, a
dangling symbolic link or a symbolic-link loop.
"""
import json
import os
import shutil

import hypothesis
import hypothesis.strategies as st
import pytest

from artrack_jax import skeletons
from artrack_jax.evaluation import cli

from test_evaluation_coco import dataset, shifted_results
from test_evaluation_posetrack import frame, person, to_pt17, to_pt18

_DEEP = json.loads('[' * 80 + ']' * 80)
# Values no used field accepts. Strings are written raw into the JSON text.
_BAD_VALUES = [True, False, 'x', {}, float('nan'), float('inf'), -float('inf'), _DEEP,
               '__RAW__1e400', '__RAW__' + '7' * 5000]
# Keys whose removal is a legitimate change of meaning (no scores, no points, no regions).
_MEANINGFUL_KEYS = {'scores', 'score', 'annopoints', 'ignore_regions'}


def _paths(doc, prefix=()):
  """Every (container path, key) of the document."""
  out = []
  items = doc.items() if isinstance(doc, dict) else enumerate(doc)
  for key, value in items:
    out.append(prefix + (key,))
    if isinstance(value, (dict, list)):
      out.extend(_paths(value, prefix + (key,)))
  return out


def _get(doc, path):
  for key in path:
    doc = doc[key]
  return doc


def _dump(doc) -> str:
  text = json.dumps(doc, allow_nan=True)
  # Raw number tokens (too large for a float, too long for an int).
  return text.replace('"__RAW__', '').replace('__END__"', '')


def _mark_raw(value):
  return value + '__END__' if isinstance(value, str) and value.startswith('__RAW__') else value


def _posetrack_files():
  gt = [frame(person(1, 0, 0), person(2, 100, 0), ignore=[[(300, 300), (320, 300), (320, 320)]]),
        frame(person(1, 1, 0), person(2, 101, 0)), frame(person(1, 2, 0), person(2, 102, 0)),
        frame(person(1, 3, 0))]
  pred = [frame(person(5, 0, 0, scores=.9, offset=(1, 0)), person(6, 100, 0, scores=.4)),
          frame(person(6, 1, 0, scores=.8), person(5, 101, 0, scores=.3, offset=(1, 1))),
          frame(person(5, 2, 0, scores=.7), person(6, 300, 0, scores=.2)),
          frame(person(5, 3, 0, scores=.6))]
  gt18, pred18 = to_pt18(gt, 'gt'), to_pt18(pred, 'pred')
  for k, ann in enumerate(pred18['annotations']):
    ann['id'] = 1000 + k
  return {'gt/a.json': gt18, 'pred/a.json': pred18,
          'gt/b.json': to_pt17(gt, 'gt'), 'pred/b.json': to_pt17(pred, 'pred')}


def _coco_files():
  gt = dataset(skeletons.COCO.names, num_images=3)
  return {'gt.json': gt, 'res.json': shifted_results(gt, (1.5, 0.5))}


MODES = {
    'posetrack': (_posetrack_files, lambda root: ['--gt', str(root / 'gt'), '--pred',
                                                  str(root / 'pred')]),
    'coco': (_coco_files, lambda root: ['--coco-gt', str(root / 'gt.json'), '--coco-pred',
                                        str(root / 'res.json')]),
}


def _write_all(root, files):
  for name, doc in files.items():
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_dump(doc))


def _run(root, argv, capsys):
  out = root / 'out.json'
  if out.exists():
    out.unlink()
  code = cli.main(argv + ['--out', str(out)])
  captured = capsys.readouterr()
  return code, captured.err, (json.loads(out.read_text()) if code == 0 else None)


@st.composite
def corruption(draw, files):
  name = draw(st.sampled_from(sorted(files)))
  kind = draw(st.sampled_from(['value', 'value', 'value', 'delete', 'duplicate', 'swap',
                               'bytes', 'truncate', 'file']))
  doc = json.loads(json.dumps(files[name]))
  if kind == 'value':
    path = draw(st.sampled_from(_paths(doc)))
    _get(doc, path[:-1])[path[-1]] = _mark_raw(draw(st.sampled_from(_BAD_VALUES)))
    return name, kind, _dump(doc).encode()
  if kind == 'delete':
    keys = [p for p in _paths(doc) if isinstance(p[-1], str) and p[-1] not in _MEANINGFUL_KEYS]
    path = draw(st.sampled_from(keys))
    del _get(doc, path[:-1])[path[-1]]
    return name, kind, _dump(doc).encode()
  if kind in ('duplicate', 'swap'):
    lists = [p for p in _paths(doc) if isinstance(_get(doc, p), list) and len(_get(doc, p)) > 1
             and isinstance(_get(doc, p)[0], dict)]
    # (The detections of a COCO result list may legitimately repeat or come in any order:
    # that changes the ranking, so they are left alone.)
    if not lists:
      return name, 'unchanged', _dump(doc).encode()
    path = draw(st.sampled_from(lists))
    entries = _get(doc, path)
    i = draw(st.integers(0, len(entries) - 1))
    if kind == 'duplicate':
      entries.insert(i, json.loads(json.dumps(entries[i])))
    else:
      j = draw(st.integers(0, len(entries) - 1).filter(lambda j: j != i))
      entries[i], entries[j] = entries[j], entries[i]
    return name, kind, _dump(doc).encode()
  raw = _dump(doc).encode()
  if kind == 'bytes':
    at = draw(st.integers(0, len(raw)))
    return name, kind, raw[:at] + draw(st.sampled_from([b'\xff', b'\xc3\x28', b'\xed\xa0\x80']))\
        + raw[at:]
  if kind == 'truncate':
    return name, kind, raw[:draw(st.integers(0, len(raw) - 1))]
  return name, draw(st.sampled_from(['directory', 'dangling', 'loop'])), None


OUTCOMES = {mode: {} for mode in MODES}


@pytest.mark.parametrize('mode', sorted(MODES))
def test_corrupted_files_give_a_clean_error_or_the_same_metrics(tmp_path_factory, capsys, mode):
  make_files, make_argv = MODES[mode]
  files = make_files()
  base_root = tmp_path_factory.mktemp(f'{mode}_valid')
  _write_all(base_root, files)
  code, err, valid = _run(base_root, make_argv(base_root), capsys)
  assert code == 0, err
  counter = iter(range(10 ** 6))

  @hypothesis.settings(max_examples=300, deadline=None, derandomize=True, database=None,
                       suppress_health_check=list(hypothesis.HealthCheck))
  @hypothesis.given(corruption(files))
  def check(case):
    name, kind, content = case
    root = tmp_path_factory.getbasetemp() / f'{mode}_{next(counter)}'
    _write_all(root, files)
    path = root / name
    if kind == 'directory':
      path.unlink()
      path.mkdir()
    elif kind == 'dangling':
      path.unlink()
      os.symlink(root / 'missing.json', path)
    elif kind == 'loop':
      path.unlink()
      os.symlink(path, path)
    else:
      path.write_bytes(content)
    code, err, result = _run(root, make_argv(root), capsys)
    outcome = 'same metrics' if code == 0 else 'clean error'
    if code == 0:
      assert result == valid, f'{kind} corruption of {name} changed the metrics'
    else:
      assert code == 2, err
      assert err.startswith('error: ') and err.count('\n') == 1, err
      assert str(path) in err, err
    OUTCOMES[mode][(kind, outcome)] = OUTCOMES[mode].get((kind, outcome), 0) + 1
    shutil.rmtree(root)

  check()
  print(f'{mode}: ' + ', '.join(f'{k} -> {o}: {n}' for (k, o), n in
                                sorted(OUTCOMES[mode].items())))
  # Both outcomes occur: the fuzzer reaches used and unused fields.
  assert any(o == 'clean error' for _, o in OUTCOMES[mode])
