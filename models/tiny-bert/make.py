"""Make a tiny BERT-style encoder in the transformers.js repo layout, two versions, for the
transformers.js cache hook (`transformersCache`, issue 27).

Each version is a folder as a Hugging Face repo converted for transformers.js holds it:
  config.json             model_type "bert" (transformers.js picks its BERT classes by it)
  tokenizer.json          a WordPiece tokenizer (Hugging Face tokenizers' format), lower-casing
  tokenizer_config.json
  onnx/model.onnx         inputs input_ids, attention_mask, token_type_ids; output last_hidden_state
  onnx/model_quantized.onnx   int8, made by `ondevice quantize <folder> --to int8`

v1 and v2 differ in weights (another seed) and in vocabulary (v2 knows words v1 splits or does
not know), so a device that paired one version's tokenizer with the other's weights would embed
the same text differently. No training: the weights are seeded random; what the tests compare is
transformers.js reading the folder itself against transformers.js reading it through ondevice.

Run with Debian's interpreter, after building the package (the CLI is dist/cli.js):

    npm run build && /usr/bin/python3 models/tiny-bert/make.py
"""
import json
import math
import os
import shutil
import subprocess
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
CLI = os.path.join(HERE, "..", "..", "dist", "cli.js")
HIDDEN, LAYERS, HEADS, FFN, POSITIONS = 32, 2, 2, 64, 64
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
LETTERS = list("abcdefghijklmnopqrstuvwxyz0123456789.,!?'-")
WORDS_V1 = ["the", "a", "is", "on", "device", "model", "cache", "data", "never", "leaves", "it", "runs",
            "fast", "slow", "phone", "network", "##s", "##ing", "##ed", "hello", "world"]
WORDS_V2 = WORDS_V1 + ["private", "offline", "update", "tokenizer", "weights", "##ly", "browser"]

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)


def vocabulary(words):
    tokens = SPECIAL + words + LETTERS + ["##" + c for c in LETTERS]
    return {t: i for i, t in enumerate(tokens)}


class TinyBert(torch.nn.Module):
    def __init__(self, vocab_size):
        super().__init__()
        self.word = torch.nn.Embedding(vocab_size, HIDDEN)
        self.position = torch.nn.Embedding(POSITIONS, HIDDEN)
        self.token_type = torch.nn.Embedding(2, HIDDEN)
        self.norm = torch.nn.LayerNorm(HIDDEN, eps=1e-12)
        self.layers = torch.nn.ModuleList()
        for _ in range(LAYERS):
            self.layers.append(torch.nn.ModuleDict({
                "qkv": torch.nn.Linear(HIDDEN, 3 * HIDDEN), "out": torch.nn.Linear(HIDDEN, HIDDEN),
                "norm1": torch.nn.LayerNorm(HIDDEN, eps=1e-12), "up": torch.nn.Linear(HIDDEN, FFN),
                "down": torch.nn.Linear(FFN, HIDDEN), "norm2": torch.nn.LayerNorm(HIDDEN, eps=1e-12),
            }))

    def forward(self, input_ids, attention_mask, token_type_ids):
        batch, seq = input_ids.shape
        positions = torch.arange(seq).unsqueeze(0)
        x = self.norm(self.word(input_ids) + self.position(positions) + self.token_type(token_type_ids))
        # Padding is masked out of attention, as BERT does.
        bias = (1.0 - attention_mask.to(torch.float32)).unsqueeze(1).unsqueeze(2) * -1e4
        head = HIDDEN // HEADS
        for layer in self.layers:
            q, k, v = layer["qkv"](x).split(HIDDEN, dim=-1)
            split = lambda t: t.reshape(batch, seq, HEADS, head).transpose(1, 2)
            scores = split(q) @ split(k).transpose(-1, -2) / math.sqrt(head) + bias
            context = (scores.softmax(-1) @ split(v)).transpose(1, 2).reshape(batch, seq, HIDDEN)
            x = layer["norm1"](x + layer["out"](context))
            x = layer["norm2"](x + layer["down"](torch.nn.functional.gelu(layer["up"](x))))
        return x


def tokenizer_json(vocab):
    special = [{"id": vocab[t], "content": t, "single_word": False, "lstrip": False, "rstrip": False,
                "normalized": False, "special": True} for t in SPECIAL]
    token = lambda t: {"SpecialToken": {"id": t, "type_id": 0}}
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": special,
        "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                       "strip_accents": None, "lowercase": True},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [token("[CLS]"), {"Sequence": {"id": "A", "type_id": 0}}, token("[SEP]")],
            "pair": [token("[CLS]"), {"Sequence": {"id": "A", "type_id": 0}}, token("[SEP]"),
                     {"Sequence": {"id": "B", "type_id": 1}}, {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
            "special_tokens": {t: {"id": t, "ids": [vocab[t]], "tokens": [t]} for t in ["[CLS]", "[SEP]"]},
        },
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": vocab},
    }


def write_json(path, value):
    with open(path, "w") as f:
        json.dump(value, f, indent=1, sort_keys=False)
        f.write("\n")


def version(folder, words, seed):
    out = os.path.join(HERE, folder)
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(os.path.join(out, "onnx"))
    vocab = vocabulary(words)
    torch.manual_seed(seed)
    model = TinyBert(len(vocab)).eval()
    write_json(os.path.join(out, "config.json"), {
        "model_type": "bert", "architectures": ["BertModel"], "vocab_size": len(vocab),
        "hidden_size": HIDDEN, "num_hidden_layers": LAYERS, "num_attention_heads": HEADS,
        "intermediate_size": FFN, "max_position_embeddings": POSITIONS, "type_vocab_size": 2,
        "hidden_act": "gelu", "layer_norm_eps": 1e-12, "pad_token_id": 0,
    })
    write_json(os.path.join(out, "tokenizer.json"), tokenizer_json(vocab))
    write_json(os.path.join(out, "tokenizer_config.json"), {
        "tokenizer_class": "BertTokenizer", "do_lower_case": True, "model_max_length": POSITIONS,
        "cls_token": "[CLS]", "sep_token": "[SEP]", "pad_token": "[PAD]", "unk_token": "[UNK]",
        "mask_token": "[MASK]", "clean_up_tokenization_spaces": True,
    })
    ids = torch.tensor([[2, 5, 6, 3]])
    with torch.no_grad():
        torch.onnx.export(
            model, (ids, torch.ones_like(ids), torch.zeros_like(ids)), os.path.join(out, "onnx", "model.onnx"),
            input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["last_hidden_state"],
            dynamic_axes={n: {0: "batch_size", 1: "sequence_length"} for n in
                          ["input_ids", "attention_mask", "token_type_ids", "last_hidden_state"]},
            opset_version=17,
        )
    subprocess.run(["node", CLI, "quantize", out, "--to", "int8"], check=True)


def main():
    if not os.path.exists(CLI):
        sys.exit("build the package first: npm run build (the CLI is dist/cli.js)")
    version("v1", WORDS_V1, 1)
    version("v2", WORDS_V2, 2)


if __name__ == "__main__":
    main()
