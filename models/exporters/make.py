"""Small ONNX models that reproduce habits of real exporters, for the tests (issue 12).

Run with Debian's interpreter (python3-onnx, numpy):

    /usr/bin/python3 models/exporters/make.py

Writes, next to this script, models named the way their authors name them:
  classifier-2024-05.onnx   a linear classifier whose input and output have a first dimension
                            with neither dim_value nor dim_param (tf2onnx and hand-built graphs
                            do this): onnxruntime-web reports such a dim as 4294967295

Seeded: a rerun writes the same bytes on the same onnx version.
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))


def free_dims(name, elem, dims):
    """A value info whose `None` dims have neither dim_value nor dim_param."""
    info = helper.make_tensor_value_info(name, elem, [1 if d is None else d for d in dims])
    for i, d in enumerate(dims):
        if d is None:
            info.type.tensor_type.shape.dim[i].Clear()
    return info


def classifier():
    rng = np.random.default_rng(2024)
    w = numpy_helper.from_array(rng.standard_normal((64, 10)).astype(np.float32) * 0.1, 'weight')
    b = numpy_helper.from_array(rng.standard_normal((10,)).astype(np.float32) * 0.1, 'bias')
    graph = helper.make_graph(
        [helper.make_node('MatMul', ['features', 'weight'], ['scores']), helper.make_node('Add', ['scores', 'bias'], ['logits'])],
        'classifier',
        [free_dims('features', TensorProto.FLOAT, [None, 64])],
        [free_dims('logits', TensorProto.FLOAT, [None, 10])],
        [w, b],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 13)], producer_name='hand-built')
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


if __name__ == '__main__':
    onnx.save(classifier(), os.path.join(HERE, 'classifier-2024-05.onnx'))
    print('wrote', os.listdir(HERE))
