"""Train the digits CNN and publish it with the project's own CLI, as a model publisher would.

Run with Debian's interpreter (it has python3-torch, python3-onnx, python3-sklearn), after
building the package (the CLI is dist/cli.js):

    npm run build && /usr/bin/python3 models/digits/train.py

Writes, next to this script:
  release/        version 1.0.0: fp32, int8 and fp16 variants (`ondevice quantize`), published
                  with `ondevice publish` (content-hashed files, manifest.json, caching headers)
  next/           version 1.1.0, trained with another seed: the "next release" the update tests
                  publish on their live host
  test-set.bin    held-out inputs, float32 little-endian, [N, 1, 8, 8]
  test-set.json   their labels and shape (the `ondevice verify --data` format)

Everything is seeded and single-threaded, so a rerun on the same torch/onnx versions
reproduces the files byte for byte.
"""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

HERE = os.path.dirname(os.path.abspath(__file__))
CLI = os.path.join(HERE, "..", "..", "dist", "cli.js")
WORK = os.path.join(HERE, ".work")
SEED = 0
RELEASES = [("release", "1.0.0", 0), ("next", "1.1.0", 1)]

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)


class DigitsCnn(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.features = torch.nn.Sequential(
            torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.ReLU(),
            torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.ReLU(),
            torch.nn.MaxPool2d(2),
        )
        self.head = torch.nn.Sequential(
            torch.nn.Flatten(), torch.nn.Linear(32 * 4 * 4, 64), torch.nn.ReLU(),
            torch.nn.Linear(64, 10),
        )

    def forward(self, image):
        return self.head(self.features(image))


def load_split():
    digits = load_digits()
    # Pixels are integers 0..16; dividing by 16 keeps every input exact in float32.
    x = (digits.images.astype(np.float32) / 16.0).reshape(-1, 1, 8, 8)
    y = digits.target.astype(np.int64)
    return train_test_split(x, y, test_size=0.2, random_state=SEED, stratify=y)


def train(model, x, y, seed, epochs=40, batch=64):
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(seed)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    for _ in range(epochs):
        order = torch.randperm(len(xt), generator=gen)
        for i in range(0, len(xt), batch):
            idx = order[i:i + batch]
            opt.zero_grad()
            loss_fn(model(xt[idx]), yt[idx]).backward()
            opt.step()


def ondevice(*args):
    subprocess.run(["node", CLI, *args], check=True)


def release(folder, version, seed, x_train, y_train, x_test, y_test):
    torch.manual_seed(seed)
    model = DigitsCnn()
    train(model, x_train, y_train, seed)
    model.eval()
    with torch.no_grad():
        accuracy = float((model(torch.from_numpy(x_test)).argmax(1).numpy() == y_test).mean())
    print(f"{version}: held-out accuracy {accuracy:.4f} on {len(y_test)} samples", file=sys.stderr)

    # The publisher's model folder: one file per variant, and metadata for the manifest.
    source = os.path.join(WORK, folder, "digits")
    os.makedirs(source)
    fp32 = os.path.join(source, "fp32.onnx")
    torch.onnx.export(
        model, torch.zeros(1, 1, 8, 8), fp32, input_names=["image"], output_names=["logits"],
        dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17,
    )
    with open(os.path.join(source, "metadata.json"), "w") as f:
        json.dump({"labels": [str(d) for d in range(10)], "heldOutAccuracy": round(accuracy, 4)}, f)
    for to in ("int8", "fp16"):
        ondevice("quantize", fp32, "--to", to, "-o", os.path.join(source, f"{to}.onnx"))

    out = os.path.join(HERE, folder)
    shutil.rmtree(out, ignore_errors=True)
    ondevice("publish", source, out, "--version", version)


def main():
    if not os.path.exists(CLI):
        sys.exit("build the package first: npm run build (the CLI is dist/cli.js)")
    shutil.rmtree(WORK, ignore_errors=True)
    x_train, x_test, y_train, y_test = load_split()
    for folder, version, seed in RELEASES:
        release(folder, version, seed, x_train, y_train, x_test, y_test)

    x_test.astype("<f4").tofile(os.path.join(HERE, "test-set.bin"))
    with open(os.path.join(HERE, "test-set.json"), "w") as f:
        json.dump({"input": "image", "dims": list(x_test.shape), "file": "test-set.bin",
                   "labels": [int(v) for v in y_test]}, f)
        f.write("\n")
    shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    main()
