#!/usr/bin/env python3
"""Unigram baseline of a prepared corpus: the cross-entropy (nats/token) of the val shards under
the train shards' token frequencies (add-one smoothed over the vocabulary). A model that does not
beat it has learned nothing beyond token counts.
  /usr/bin/python3 experiments/tools/unigram.py DIR [VOCAB]   (DIR holds train_*.bin, val_*.bin)"""
import glob
import sys

import numpy as np


def tokens(path):
    head = np.fromfile(path, dtype="<i4", count=256)
    dtype = "<u2" if head[0] == 20240520 else "<u4"
    return np.fromfile(path, dtype=dtype, offset=1024, count=int(head[2]))


def main():
    d = sys.argv[1]
    train = np.concatenate([tokens(p) for p in sorted(glob.glob(d + "/train_*.bin"))])
    val = np.concatenate([tokens(p) for p in sorted(glob.glob(d + "/val_*.bin"))])
    vocab = int(sys.argv[2]) if len(sys.argv) > 2 else int(max(train.max(), val.max())) + 1
    counts = np.bincount(train, minlength=vocab).astype(np.float64) + 1.0
    logp = np.log(counts / counts.sum())
    print(f"unigram val loss {-logp[val].mean():.4f} nats/token "
          f"(train {train.size} tokens, val {val.size}, vocab {vocab})")


if __name__ == "__main__":
    main()
