"""A decoder whose key/value cache is a few MB, for the decode-loop benchmark (issue 24): random
weights (no training: only the time of a step matters), 8 layers of 4 heads of 32, so the cache
grows by 8 kB a token (4 MB after 512). Two graphs in the transformers.js layout, so that it loads as
a release of several graphs (on WebGPU its outputs stay in GPU buffers):

  kv-bench/onnx/encoder_model.onnx            input_ids [1, S] -> last_hidden_state [1, S, 128]
  kv-bench/onnx/decoder_with_past_model.onnx  input_ids [1, 1], encoder_hidden_states [1, S, 128],
                                              past_key_values.{0..7}.key / .value [1, 4, P, 32]
                                              -> logits [1, 1, 64], present.{0..7}.key / .value [1, 4, P+1, 32]

    /usr/bin/python3 models/seq2seq/make_kv_bench.py
"""
import math
import os

import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
D, HEADS, LAYERS, VOCAB = 128, 4, 8, 64
DH = D // HEADS


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, D)

    def forward(self, input_ids):
        return self.emb(input_ids)


class Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, D)
        self.qkv = nn.ModuleList([nn.Linear(D, 3 * D) for _ in range(LAYERS)])
        self.out = nn.ModuleList([nn.Linear(D, D) for _ in range(LAYERS)])
        self.head = nn.Linear(D, VOCAB)

    def forward(self, input_ids, enc, *past):
        x = self.emb(input_ids) + enc.mean(dim=1, keepdim=True)
        presents = []
        for layer in range(LAYERS):
            q, k, v = self.qkv[layer](x).split(D, dim=-1)
            q, k, v = [t.reshape(1, 1, HEADS, DH).transpose(1, 2) for t in (q, k, v)]
            k = torch.cat([past[2 * layer], k], dim=2)
            v = torch.cat([past[2 * layer + 1], v], dim=2)
            a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(DH), dim=-1) @ v
            x = x + self.out[layer](a.transpose(1, 2).reshape(1, 1, D))
            presents += [k, v]
        return (self.head(x), *presents)


def main():
    torch.manual_seed(7)
    out = os.path.join(HERE, 'kv-bench', 'onnx')
    os.makedirs(out, exist_ok=True)
    enc, dec = Encoder().eval(), Decoder().eval()
    ids = torch.tensor([[1, 2, 3]])
    torch.onnx.export(enc, (ids,), os.path.join(out, 'encoder_model.onnx'), input_names=['input_ids'],
                      output_names=['last_hidden_state'], dynamic_axes={'input_ids': {1: 'encoder_sequence_length'},
                                                                        'last_hidden_state': {1: 'encoder_sequence_length'}},
                      opset_version=14)
    past = [torch.zeros(1, HEADS, 1, DH) for _ in range(2 * LAYERS)]
    names = [f'past_key_values.{l}.{kv}' for l in range(LAYERS) for kv in ('key', 'value')]
    presents = [f'present.{l}.{kv}' for l in range(LAYERS) for kv in ('key', 'value')]
    axes = {n: {2: 'past_sequence_length'} for n in names}
    axes.update({n: {2: 'past_sequence_length + 1'} for n in presents})
    axes['encoder_hidden_states'] = {1: 'encoder_sequence_length'}
    torch.onnx.export(dec, (torch.tensor([[5]]), enc(ids), *past), os.path.join(out, 'decoder_with_past_model.onnx'),
                      input_names=['input_ids', 'encoder_hidden_states', *names], output_names=['logits', *presents],
                      dynamic_axes=axes, opset_version=14)


if __name__ == '__main__':
    main()
