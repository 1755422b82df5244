"""The ONNX project's backend node tests, as cases the library's conformance test reads.

onnx.backend.test generates, for each operator test, a model and its first test data set (inputs and
expected outputs as TensorProto files). Each case is written here as <out>/<case>/model.onnx and
<out>/<case>/case.json: { "inputs": [tensor], "outputs": [tensor] }, a tensor being
{ "name", "type" (the manifest's type names), "dims", "data" } with float data as numbers (NaN,
Infinity and -Infinity as strings), 64-bit integers as decimal strings, float16 as its bit patterns,
and strings as strings. Cases whose inputs or outputs are not tensors (sequences, optionals, maps)
are left out: the library's API carries tensors.

Run with Debian's python3-onnx (1.12, which needs numpy's removed aliases put back first):
  /usr/bin/python3 scripts/onnx-backend-cases.py <out> [--only name,name,...]
The repo keeps a small subset in models/onnx-backend/ (scripts/onnx-backend-subset.txt); the whole
set is written by `npm run conformance` into models/generated/onnx-backend/.
"""
import json
import math
import os
import shutil
import sys
import tempfile
import warnings

warnings.filterwarnings('ignore')
import numpy as np

for alias, value in [('float', float), ('int', int), ('bool', bool), ('object', object), ('complex', complex), ('str', str)]:
    setattr(np, alias, value)

import onnx  # noqa: E402
from onnx import numpy_helper  # noqa: E402
from onnx.backend.test.cmd_tools import main as onnx_tools  # noqa: E402

TYPES = {
    onnx.TensorProto.FLOAT: 'float32', onnx.TensorProto.DOUBLE: 'float64', onnx.TensorProto.FLOAT16: 'float16',
    onnx.TensorProto.INT8: 'int8', onnx.TensorProto.UINT8: 'uint8', onnx.TensorProto.INT16: 'int16',
    onnx.TensorProto.UINT16: 'uint16', onnx.TensorProto.INT32: 'int32', onnx.TensorProto.UINT32: 'uint32',
    onnx.TensorProto.INT64: 'int64', onnx.TensorProto.UINT64: 'uint64', onnx.TensorProto.BOOL: 'bool',
    onnx.TensorProto.STRING: 'string',
}


def number(value):
    value = float(value)
    if math.isnan(value):
        return 'NaN'
    if math.isinf(value):
        return 'Infinity' if value > 0 else '-Infinity'
    return value


def tensor(proto):
    if proto.data_type not in TYPES:
        return None
    kind = TYPES[proto.data_type]
    array = numpy_helper.to_array(proto)
    flat = array.reshape(-1)
    if kind == 'string':
        data = [v.decode('utf-8') if isinstance(v, bytes) else str(v) for v in flat]
    elif kind == 'float16':
        data = [int(v) for v in flat.view(np.uint16)]
    elif kind in ('float32', 'float64'):
        data = [number(v) for v in flat]
    elif kind in ('int64', 'uint64'):
        data = [str(int(v)) for v in flat]
    elif kind == 'bool':
        data = [1 if v else 0 for v in flat]
    else:
        data = [int(v) for v in flat]
    return {'name': proto.name, 'type': kind, 'dims': [int(d) for d in array.shape], 'data': data}


def read(path):
    proto = onnx.TensorProto()
    with open(path, 'rb') as f:
        proto.ParseFromString(f.read())
    return proto


def convert(source, target):
    data = os.path.join(source, 'test_data_set_0')
    model = onnx.load(os.path.join(source, 'model.onnx'))
    graph_inputs = [i for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]
    if not os.path.isdir(data):
        return False
    if any(not v.type.HasField('tensor_type') for v in list(graph_inputs) + list(model.graph.output)):
        return False
    inputs, outputs = [], []
    for kind, into in (('input', inputs), ('output', outputs)):
        names = sorted((f for f in os.listdir(data) if f.startswith(kind + '_')), key=lambda f: int(f[len(kind) + 1:-3]))
        for i, name in enumerate(names):
            proto = read(os.path.join(data, name))
            converted = tensor(proto)
            if converted is None:
                return False
            declared = (graph_inputs if kind == 'input' else model.graph.output)
            if not converted['name'] and i < len(declared):
                converted['name'] = declared[i].name
            into.append(converted)
    os.makedirs(target, exist_ok=True)
    shutil.copyfile(os.path.join(source, 'model.onnx'), os.path.join(target, 'model.onnx'))
    with open(os.path.join(target, 'case.json'), 'w') as f:
        json.dump({'inputs': inputs, 'outputs': outputs}, f, separators=(',', ':'))
    return True


def generate(out, only):
    work = tempfile.mkdtemp(prefix='onnx-backend-')
    try:
        sys.argv = ['onnx', 'generate-data', '-o', work]
        onnx_tools()
        node = os.path.join(work, 'node')
        cases = sorted(os.listdir(node))
        if only:
            missing = sorted(set(only) - set(cases))
            if missing:
                raise SystemExit(f'no such case: {", ".join(missing)}')
            cases = [c for c in cases if c in only]
        kept = [c for c in cases if convert(os.path.join(node, c), os.path.join(out, c))]
        print(f'{len(kept)} of {len(cases)} cases written to {out} ({len(cases) - len(kept)} have non-tensor inputs or outputs)')
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    args = sys.argv[1:]
    if not args:
        raise SystemExit(__doc__)
    only = None
    if '--only' in args:
        i = args.index('--only')
        only = set(args[i + 1].split(','))
        del args[i:i + 2]
    generate(args[0], only)
