"""Train a digits MLP whose weights are MatMul initializers (`x @ W + b`, as transformer blocks hold
them) and publish fp32, int8, q4 and q4f16 variants with the project's own CLI.

The digits CNN (models/digits) is Conv and Gemm, which 4-bit MatMulNBits does not cover; this model
is what `ondevice quantize --to q4` is for. Same data and split as models/digits, so its held-out
set (models/digits/test-set.json, inputs [N, 1, 8, 8]) is this model's too.

Run with Debian's interpreter (python3-torch, python3-onnx, python3-sklearn), after building the
package (the CLI is dist/cli.js):

    npm run build && /usr/bin/python3 models/digits-mlp/train.py

Writes release/ next to this script (version 1.0.0). Seeded and single-threaded: a rerun on the
same torch/onnx versions reproduces the files byte for byte.
"""
import json
import os
import shutil
import subprocess
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
# The CNN's split and training loop, so the two models share the held-out set.
sys.path.insert(0, os.path.join(HERE, "..", "digits"))
from train import load_split, train  # noqa: E402
CLI = os.path.join(HERE, "..", "..", "dist", "cli.js")
WORK = os.path.join(HERE, ".work")
SEED = 0
HIDDEN = 256

class DigitsMlp(torch.nn.Module):
    """Three `x @ W + b` layers: torch exports each as MatMul with W [K, N] an initializer."""

    def __init__(self):
        super().__init__()
        sizes = [64, HIDDEN, HIDDEN, 10]
        self.weights = torch.nn.ParameterList(
            [torch.nn.Parameter(torch.randn(k, n) / k ** 0.5) for k, n in zip(sizes, sizes[1:])])
        self.biases = torch.nn.ParameterList([torch.nn.Parameter(torch.zeros(n)) for n in sizes[1:]])

    def forward(self, image):
        x = image.flatten(1)
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = x @ w + b
            if i < len(self.weights) - 1:
                x = torch.relu(x)
        return x


def ondevice(*args):
    subprocess.run(["node", CLI, *args], check=True)


def main():
    if not os.path.exists(CLI):
        sys.exit("build the package first: npm run build (the CLI is dist/cli.js)")
    shutil.rmtree(WORK, ignore_errors=True)
    x_train, x_test, y_train, y_test = load_split()
    torch.manual_seed(SEED)
    model = DigitsMlp()
    train(model, x_train, y_train, SEED)
    model.eval()
    with torch.no_grad():
        accuracy = float((model(torch.from_numpy(x_test)).argmax(1).numpy() == y_test).mean())
    print(f"held-out accuracy {accuracy:.4f} on {len(y_test)} samples", file=sys.stderr)

    source = os.path.join(WORK, "digits-mlp")
    os.makedirs(source)
    fp32 = os.path.join(source, "fp32.onnx")
    torch.onnx.export(
        model, torch.zeros(1, 1, 8, 8), fp32, input_names=["image"], output_names=["logits"],
        dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17,
    )
    with open(os.path.join(source, "metadata.json"), "w") as f:
        json.dump({"labels": [str(d) for d in range(10)], "heldOutAccuracy": round(accuracy, 4)}, f)
    for to in ("int8", "q4", "q4f16"):
        ondevice("quantize", fp32, "--to", to, "-o", os.path.join(source, f"{to}.onnx"))

    out = os.path.join(HERE, "release")
    shutil.rmtree(out, ignore_errors=True)
    ondevice("publish", source, out, "--version", "1.0.0")
    shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    main()
