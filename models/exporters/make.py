"""Small ONNX models that reproduce habits of real exporters, for the tests (issue 12).

Run with Debian's interpreter (python3-onnx, numpy):

    /usr/bin/python3 models/exporters/make.py

Writes, next to this script, models named the way their authors name them:
  classifier-2024-05.onnx   a linear classifier whose input and output have a first dimension
                            with neither dim_value nor dim_param (tf2onnx and hand-built graphs
                            do this): onnxruntime-web reports such a dim as 4294967295

  weights-as-constants.onnx a two-layer MLP whose weights are `Constant` nodes, not initializers
                            (paddle2onnx and some tf2onnx outputs), at opset 11
  if-subgraph.onnx          an `If` whose branches hold the weights: one as the branch's own
                            initializer, one as a `Constant` node (stateful audio models do this)
  external-data/model.onnx  the classifier saved as Hugging Face Optimum and onnx.save_model with
  external-data/model.onnx_data   save_as_external_data write it: weights over 1 kB in a separate
                            file the model names by a relative `location` (the bias stays inside)
  vad_v5-stateful.onnx      a stateful step, as voice-activity models are: a float `state` input
                            fed back from the `stateN` output on every call, and an int64 scalar
                            `sr` (the sample rate)
  dynamic-axes.onnx         every input dimension named, as torch.onnx.export with dynamic_axes on
                            all of them writes it, though the MatMul inside needs 16 features: a
                            declared shape that admits inputs the kernels then refuse at run time

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


def finish(graph, opset, producer, ir_version):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', opset)], producer_name=producer)
    model.ir_version = ir_version
    onnx.checker.check_model(model)
    return model


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
    return finish(graph, 13, 'hand-built', 8)


def dynamic_axes():
    rng = np.random.default_rng(7)
    w = numpy_helper.from_array(rng.standard_normal((16, 4)).astype(np.float32), 'weight')
    graph = helper.make_graph(
        [helper.make_node('MatMul', ['x', 'weight'], ['y'])],
        'dynamic_axes',
        [helper.make_tensor_value_info('x', TensorProto.FLOAT, ['batch', 'features'])],
        [helper.make_tensor_value_info('y', TensorProto.FLOAT, ['batch', 4])],
        [w],
    )
    return finish(graph, 17, 'pytorch', 8)


def constant(name, array):
    return helper.make_node('Constant', [], [name], value=numpy_helper.from_array(array, name + '_value'))


def weights_as_constants():
    rng = np.random.default_rng(11)
    w1 = (rng.standard_normal((64, 32)) * 0.1).astype(np.float32)
    w2 = (rng.standard_normal((32, 10)) * 0.1).astype(np.float32)
    nodes = [
        constant('w1', w1),
        constant('w2', w2),
        helper.make_node('MatMul', ['x', 'w1'], ['h']),
        helper.make_node('Relu', ['h'], ['r']),
        helper.make_node('MatMul', ['r', 'w2'], ['y']),
    ]
    graph = helper.make_graph(nodes, 'mlp', [free_dims('x', TensorProto.FLOAT, [None, 64])], [free_dims('y', TensorProto.FLOAT, [None, 10])])
    return finish(graph, 11, 'paddle-like', 6)


def if_subgraph():
    rng = np.random.default_rng(13)
    w_then = numpy_helper.from_array((rng.standard_normal((64, 10)) * 0.1).astype(np.float32), 'w_then')
    w_else = (rng.standard_normal((64, 10)) * 0.1).astype(np.float32)
    then_branch = helper.make_graph(
        [helper.make_node('MatMul', ['x', 'w_then'], ['y_then'])], 'then', [], [free_dims('y_then', TensorProto.FLOAT, [None, 10])], [w_then]
    )
    else_branch = helper.make_graph(
        [constant('w_else', w_else), helper.make_node('MatMul', ['x', 'w_else'], ['y_else'])], 'else', [], [free_dims('y_else', TensorProto.FLOAT, [None, 10])]
    )
    nodes = [helper.make_node('If', ['cond'], ['y'], then_branch=then_branch, else_branch=else_branch)]
    graph = helper.make_graph(
        nodes, 'branches', [free_dims('x', TensorProto.FLOAT, [None, 64]), helper.make_tensor_value_info('cond', TensorProto.BOOL, [])], [free_dims('y', TensorProto.FLOAT, [None, 10])]
    )
    return finish(graph, 13, 'branchy', 8)


def stateful():
    rng = np.random.default_rng(5)
    w = numpy_helper.from_array((rng.standard_normal((16, 8)) * 0.3).astype(np.float32), 'w')
    v = numpy_helper.from_array((rng.standard_normal((8, 1)) * 0.3).astype(np.float32), 'v')
    half = numpy_helper.from_array(np.array(0.5, dtype=np.float32), 'half')
    per_khz = numpy_helper.from_array(np.array(1 / 16000, dtype=np.float32), 'per_hz')
    nodes = [
        helper.make_node('Cast', ['sr'], ['sr_f'], to=TensorProto.FLOAT),
        helper.make_node('Mul', ['sr_f', 'per_hz'], ['scale']),
        helper.make_node('MatMul', ['x', 'w'], ['h']),
        helper.make_node('Mul', ['h', 'scale'], ['hs']),
        helper.make_node('Mul', ['state', 'half'], ['kept']),
        helper.make_node('Add', ['kept', 'hs'], ['pre']),
        helper.make_node('Tanh', ['pre'], ['stateN']),
        helper.make_node('MatMul', ['stateN', 'v'], ['y']),
    ]
    graph = helper.make_graph(
        nodes,
        'vad-step',
        [
            helper.make_tensor_value_info('x', TensorProto.FLOAT, [1, 16]),
            helper.make_tensor_value_info('state', TensorProto.FLOAT, [1, 8]),
            helper.make_tensor_value_info('sr', TensorProto.INT64, []),
        ],
        [helper.make_tensor_value_info('y', TensorProto.FLOAT, [1, 1]), helper.make_tensor_value_info('stateN', TensorProto.FLOAT, [1, 8])],
        [w, v, half, per_khz],
    )
    return finish(graph, 13, 'vad-like', 8)


if __name__ == '__main__':
    onnx.save(stateful(), os.path.join(HERE, 'vad_v5-stateful.onnx'))
    onnx.save(classifier(), os.path.join(HERE, 'classifier-2024-05.onnx'))
    onnx.save(weights_as_constants(), os.path.join(HERE, 'weights-as-constants.onnx'))
    onnx.save(if_subgraph(), os.path.join(HERE, 'if-subgraph.onnx'))
    onnx.save(dynamic_axes(), os.path.join(HERE, 'dynamic-axes.onnx'))
    os.makedirs(os.path.join(HERE, 'external-data'), exist_ok=True)
    onnx.save_model(classifier(), os.path.join(HERE, 'external-data', 'model.onnx'), save_as_external_data=True,
                    all_tensors_to_one_file=True, location='model.onnx_data', size_threshold=1024)
    print('wrote', os.listdir(HERE))
