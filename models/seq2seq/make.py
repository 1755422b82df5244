"""A tiny encoder-decoder that reverses a word, in the layout transformers.js / Optimum export
(issue 24): the example of a release with several graphs, a tokenizer and a config that must match
the weights, external data, and a decode loop whose key/value cache stays where the model runs.

Run with Debian's interpreter (python3-torch, python3-onnx):

    /usr/bin/python3 models/seq2seq/make.py

Writes, next to this script, two versions whose weights AND tokenizers differ (each version maps the
letters to other token ids), so a device that paired one version's tokenizer with the other's weights
would decode other tokens:

  v1/, v2/                 config.json, tokenizer.json, generation_config.json at the top, and
    onnx/encoder_model.onnx              input_ids [1, S] -> last_hidden_state [1, S, 64]
    onnx/decoder_model.onnx (+ .onnx_data, its weights as external data, as Optimum writes them)
                                         input_ids [1, T], encoder_hidden_states -> logits [1, T, 29],
                                         present.0.key / present.0.value [1, 2, T, 32]
    onnx/decoder_with_past_model.onnx    input_ids [1, 1], encoder_hidden_states,
                                         past_key_values.0.key / .value [1, 2, P, 32] -> logits [1, 1, 29],
                                         present.0.key / .value [1, 2, P+1, 32]
  words.json               held-out words (letters a-z, 1 to 8 long) the tests decode

Greedy decoding: encoder once; decoder_model on [bos]; then decoder_with_past on the last token and
the kept cache until eos or 12 tokens. Trains in about five minutes on two cores. Seeded.
"""
import json
import math
import os

import numpy as np
import onnx
import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
D, HEADS, MAXLEN, LETTERS = 64, 2, 12, 'abcdefghijklmnopqrstuvwxyz'
PAD, BOS, EOS = 0, 1, 2
VOCAB = 3 + len(LETTERS)
DH = D // HEADS


def heads(x):  # [1, T, D] -> [1, H, T, DH]
    return x.reshape(x.shape[0], x.shape[1], HEADS, DH).transpose(1, 2)


def merge(x):  # [1, H, T, DH] -> [1, T, D]
    return x.transpose(1, 2).reshape(x.shape[0], x.shape[2], D)


def attend(q, k, v, mask=None):
    scores = q @ k.transpose(-1, -2) / math.sqrt(DH)
    if mask is not None:
        scores = scores + mask
    return torch.softmax(scores, dim=-1) @ v


class Block(nn.Module):
    def __init__(self, cross):
        super().__init__()
        self.qkv = nn.Linear(D, 3 * D)
        self.out = nn.Linear(D, D)
        self.ln1 = nn.LayerNorm(D)
        self.cross = cross
        if cross:
            self.q2 = nn.Linear(D, D)
            self.kv2 = nn.Linear(D, 2 * D)
            self.out2 = nn.Linear(D, D)
            self.ln2 = nn.LayerNorm(D)
        self.mlp = nn.Sequential(nn.Linear(D, 4 * D), nn.GELU(), nn.Linear(4 * D, D))
        self.ln3 = nn.LayerNorm(D)


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, D)
        self.pos = nn.Embedding(MAXLEN, D)
        self.blocks = nn.ModuleList([Block(False), Block(False)])

    def forward(self, input_ids):
        t = input_ids.shape[1]
        x = self.emb(input_ids) + self.pos(torch.arange(t).unsqueeze(0))
        for b in self.blocks:
            q, k, v = b.qkv(b.ln1(x)).split(D, dim=-1)
            x = x + b.out(merge(attend(heads(q), heads(k), heads(v))))
            x = x + b.mlp(b.ln3(x))
        return x


class Decoder(nn.Module):
    """One block: causal self-attention whose keys and values are the cache, then cross-attention."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, D)
        self.pos = nn.Embedding(MAXLEN + 1, D)
        self.block = Block(True)
        self.head = nn.Linear(D, VOCAB)

    def step(self, input_ids, enc, past_k=None, past_v=None):
        t = input_ids.shape[1]
        start = 0 if past_k is None else past_k.shape[2]
        x = self.emb(input_ids) + self.pos(torch.arange(t).unsqueeze(0) + start)
        b = self.block
        q, k, v = b.qkv(b.ln1(x)).split(D, dim=-1)
        k, v = heads(k), heads(v)
        if past_k is not None:
            k, v = torch.cat([past_k, k], dim=2), torch.cat([past_v, v], dim=2)
        mask = None if past_k is not None else torch.triu(torch.full((t, t), -1e9), diagonal=1)
        x = x + b.out(merge(attend(heads(q), k, v, mask)))
        ck, cv = b.kv2(enc).split(D, dim=-1)
        x = x + b.out2(merge(attend(heads(b.q2(b.ln2(x))), heads(ck), heads(cv))))
        x = x + b.mlp(b.ln3(x))
        return self.head(x), k, v


class First(nn.Module):
    def __init__(self, dec):
        super().__init__()
        self.dec = dec

    def forward(self, input_ids, encoder_hidden_states):
        return self.dec.step(input_ids, encoder_hidden_states)


class WithPast(nn.Module):
    def __init__(self, dec):
        super().__init__()
        self.dec = dec

    def forward(self, input_ids, encoder_hidden_states, past_key, past_value):
        return self.dec.step(input_ids, encoder_hidden_states, past_key, past_value)


def words(rng, n):
    return [''.join(rng.choice(list(LETTERS), size=rng.integers(1, 9))) for _ in range(n)]


def train(seed):
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    order = rng.permutation(len(LETTERS))
    vocab = {LETTERS[i]: 3 + int(j) for i, j in enumerate(order)}
    enc, dec = Encoder(), Decoder()
    opt = torch.optim.Adam(list(enc.parameters()) + list(dec.parameters()), lr=3e-3)
    for step in range(2500):
        n = int(rng.integers(1, 9))
        batch = [''.join(rng.choice(list(LETTERS), size=n)) for _ in range(64)]
        src = torch.tensor([[vocab[c] for c in w] for w in batch])
        tgt = torch.tensor([[vocab[c] for c in reversed(w)] + [EOS] for w in batch])
        inp = torch.cat([torch.full((64, 1), BOS), tgt[:, :-1]], dim=1)
        logits, _, _ = dec.step(inp, enc(src))
        loss = nn.functional.cross_entropy(logits.reshape(-1, VOCAB), tgt.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 500 == 0:
            print(f'seed {seed} step {step} loss {loss.item():.4f}')
    return enc.eval(), dec.eval(), vocab


def export(enc, dec, vocab, version, out):
    os.makedirs(os.path.join(out, 'onnx'), exist_ok=True)
    ids = torch.tensor([[3, 4, 5]])
    hidden = enc(ids)
    kw = dict(opset_version=14, do_constant_folding=True)
    torch.onnx.export(enc, (ids,), os.path.join(out, 'onnx', 'encoder_model.onnx'), input_names=['input_ids'],
                      output_names=['last_hidden_state'],
                      dynamic_axes={'input_ids': {0: 'batch', 1: 'encoder_sequence_length'},
                                    'last_hidden_state': {0: 'batch', 1: 'encoder_sequence_length'}}, **kw)
    kv_names = ['present.0.key', 'present.0.value']
    first = os.path.join(out, 'onnx', 'decoder_model.onnx')
    torch.onnx.export(First(dec), (torch.tensor([[BOS]]), hidden), first,
                      input_names=['input_ids', 'encoder_hidden_states'], output_names=['logits'] + kv_names,
                      dynamic_axes={'input_ids': {0: 'batch', 1: 'decoder_sequence_length'},
                                    'encoder_hidden_states': {0: 'batch', 1: 'encoder_sequence_length'},
                                    'logits': {0: 'batch', 1: 'decoder_sequence_length'},
                                    'present.0.key': {0: 'batch', 2: 'decoder_sequence_length'},
                                    'present.0.value': {0: 'batch', 2: 'decoder_sequence_length'}}, **kw)
    # Optimum writes a graph's weights beside it as `<graph>.onnx_data` once it is large: done here for one graph.
    model = onnx.load(first)
    onnx.save_model(model, first, save_as_external_data=True, all_tensors_to_one_file=True,
                    location='decoder_model.onnx_data', size_threshold=1024)
    _, pk, pv = dec.step(torch.tensor([[BOS]]), hidden)
    torch.onnx.export(WithPast(dec), (torch.tensor([[7]]), hidden, pk, pv),
                      os.path.join(out, 'onnx', 'decoder_with_past_model.onnx'),
                      input_names=['input_ids', 'encoder_hidden_states', 'past_key_values.0.key', 'past_key_values.0.value'],
                      output_names=['logits'] + kv_names,
                      dynamic_axes={'input_ids': {0: 'batch'},
                                    'encoder_hidden_states': {0: 'batch', 1: 'encoder_sequence_length'},
                                    'past_key_values.0.key': {0: 'batch', 2: 'past_sequence_length'},
                                    'past_key_values.0.value': {0: 'batch', 2: 'past_sequence_length'},
                                    'logits': {0: 'batch'},
                                    'present.0.key': {0: 'batch', 2: 'past_sequence_length + 1'},
                                    'present.0.value': {0: 'batch', 2: 'past_sequence_length + 1'}}, **kw)
    config = {'model_type': 'ondevice-reverse', 'd_model': D, 'num_heads': HEADS, 'decoder_layers': 1,
              'encoder_layers': 2, 'vocab_size': VOCAB, 'max_length': MAXLEN, 'decoder_start_token_id': BOS,
              'eos_token_id': EOS, 'pad_token_id': PAD}
    tokenizer = {'version': version, 'pad': PAD, 'bos': BOS, 'eos': EOS, 'vocab': dict(sorted(vocab.items()))}
    generation = {'decoder_start_token_id': BOS, 'eos_token_id': EOS, 'max_length': MAXLEN}
    for name, value in [('config.json', config), ('tokenizer.json', tokenizer), ('generation_config.json', generation)]:
        with open(os.path.join(out, name), 'w') as f:
            json.dump(value, f, indent=2)
            f.write('\n')


def greedy(enc, dec, vocab, word):
    inverse = {v: k for k, v in vocab.items()}
    with torch.no_grad():
        hidden = enc(torch.tensor([[vocab[c] for c in word]]))
        logits, k, v = dec.step(torch.tensor([[BOS]]), hidden)
        out = []
        for _ in range(MAXLEN):
            token = int(logits[0, -1].argmax())
            if token == EOS:
                break
            out.append(inverse.get(token, '?'))
            logits, k, v = dec.step(torch.tensor([[token]]), hidden, k, v)
    return ''.join(out)


def main():
    torch.set_num_threads(2)
    held = words(np.random.default_rng(99), 60)
    with open(os.path.join(HERE, 'words.json'), 'w') as f:
        json.dump(held, f)
        f.write('\n')
    for seed, version in [(1, '1.0.0'), (2, '2.0.0')]:
        enc, dec, vocab = train(seed)
        right = sum(greedy(enc, dec, vocab, w) == w[::-1] for w in held)
        print(f'version {version}: {right}/{len(held)} held-out words reversed exactly')
        export(enc, dec, vocab, version, os.path.join(HERE, f'v{seed}'))


if __name__ == '__main__':
    main()
