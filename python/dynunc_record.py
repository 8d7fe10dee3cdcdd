"""Record training dynamics from any Python training loop into dynunc's `.dyn` store.

One file, numpy only: no Rust toolchain needed. Feed it each batch's logits with the
samples' dataset indices; at each epoch's end it appends the epoch to the store (atomically:
a crash leaves the store as it was after the last complete epoch), and `dynunc score` /
`dynunc select` read it like a store a dynunc run wrote::

    from dynunc_record import Recorder
    rec = Recorder("run.dyn", labels=train_labels, classes=10)   # resumes an existing store
    for epoch in range(T):
        for idx, x, y in loader:                # a Dataset that also returns each index
            logits = model(x); ...
            rec.update(idx.numpy(), logits.detach().float().cpu().numpy())
        rec.end_epoch()                         # appends the epoch atomically
    rec.close()

    $ dynunc score --dynamics run.dyn --method dyn_unc --window 10 --out dyn_unc.csv

Every field is the definition in dynunc's `src/dynamics/columns.rs`, computed in the same
order of float64 operations as `dynunc import --logits` (`SampleStats::from_logits`,
`softmax_into` and `drift`), so the store is the import's byte for byte wherever numpy's
`exp`/`log` round as the C library's do (the CI test compares the bytes). Memory: O(N) per
epoch, plus N x C float32 for the previous softmax when `drift=True` (TDDS's field; pass
`drift=False` to record the seven standard fields only). A sample not given in an epoch is
recorded as unseen. `update` may be given the same sample twice in an epoch (the last one
counts, as in dynunc's recorder).

Speed: where numpy's float64 `exp`/`log` differ from the C library's (its AVX-512 kernels),
the default `exact=True` calls the C library's element by element (about 40 ns a value: 0.2 s
an epoch for 60,000 samples x 10 classes, minutes for ImageNet-1K's 1.28M x 1,000);
`exact=False` uses numpy's kernels throughout, the fields then within an ulp or so of the
import's (EL2N of a sample predicted with p_true near 1 the furthest, relatively).
"""

import math
import os

import numpy as np

MAGIC = b"DYNUNCST"
VERSION = 1
HEADER_LEN = 64
SEEN, CORRECT = 1, 2
# Field order on disk (dynunc's Field::ALL): six float columns, the flags byte, drift.
FLOAT_FIELDS = ("p_true", "el2n", "margin", "entropy", "max_prob", "top2_gap")
STANDARD_MASK = 0x7F
ALL_MASK = 0xFF
_K = 0x517CC1B727220A95
_M = (1 << 64) - 1


def hash_bytes(data):
    """dynunc's store hash (`hash_bytes` in src/dynamics/store.rs) of `data`."""
    n = len(data)
    h = 0xCBF29CE484222325 ^ n
    pad = (-n) % 8
    words = np.frombuffer(bytes(data) + b"\0" * pad, dtype="<u8").tolist()
    for w in words:
        h = ((((h << 5) | (h >> 59)) & _M) ^ w) * _K & _M
    return h ^ (h >> 31)


def _header(mask, samples, classes, fingerprint, epochs, producer=0):
    b = bytearray(HEADER_LEN)
    b[0:8] = MAGIC
    b[8:12] = VERSION.to_bytes(4, "little")
    b[12:16] = mask.to_bytes(4, "little")
    b[16:24] = samples.to_bytes(8, "little")
    b[24:28] = classes.to_bytes(4, "little")
    b[32:40] = fingerprint.to_bytes(8, "little")
    b[40:48] = epochs.to_bytes(8, "little")
    b[48:56] = hash_bytes(bytes(b[0:48])).to_bytes(8, "little")
    b[56:64] = producer.to_bytes(8, "little")
    return bytes(b)


def _libm(fn, vectorized):
    """`fn` of the C library element by element (as Rust's f64::exp/ln call it), or numpy's
    vectorized ufunc where it gives the same bits on a probe (numpy's AVX-512 exp and log
    differ from the C library's by an ulp in about a quarter of the values)."""
    probe = np.linspace(1e-9, 60.0, 4001)
    probe = np.concatenate([probe, -probe]) if fn is math.exp else probe
    if np.array_equal(vectorized(probe), np.array([fn(v) for v in probe.tolist()])):
        return vectorized

    def elementwise(x):
        x = np.asarray(x, dtype=np.float64)
        return np.fromiter(map(fn, x.ravel().tolist()), np.float64, x.size).reshape(x.shape)

    return elementwise


_EXACT = {"exp": _libm(math.exp, np.exp), "log": _libm(math.log, np.log)}
_FAST = {"exp": np.exp, "log": np.log}
_math = _EXACT


def _sequential_sum(x):
    """Row sums added left to right, as a Rust loop does (numpy's sum is pairwise)."""
    return np.cumsum(x, axis=1)[:, -1]


def sample_fields(logits, labels):
    """The per-sample fields of a batch: dynunc's `SampleStats::from_logits`, row by row.

    `logits`: B x C float32; `labels`: B integers. Returns a dict of float32 columns and the
    `correct` booleans.
    """
    logits = np.ascontiguousarray(logits, dtype=np.float32)
    b, c = logits.shape
    rows = np.arange(b)
    argmax = np.argmax(logits, axis=1)
    max_logit = logits[rows, argmax]
    shifted = (logits - max_logit[:, None]).astype(np.float64)  # f32 subtraction, then f64
    log_z = _math["log"](_sequential_sum(_math["exp"](shifted)))
    log_p = shifted - log_z[:, None]
    p = _math["exp"](log_p)
    terms = np.where(p > 0.0, p * log_p, 0.0)
    entropy = 0.0 - _sequential_sum(terms)
    target = np.zeros_like(p)
    target[rows, labels] = 1.0
    el2n = np.sqrt(_sequential_sum((p - target) * (p - target)))
    ordered = np.sort(p, axis=1)
    first = ordered[:, -1]
    second = ordered[:, -2] if c > 1 else np.zeros(b)
    if c > 1:
        others = logits.copy()
        others[rows, labels] = -np.inf
        margin = logits[rows, labels] - others.max(axis=1)
    else:
        margin = np.zeros(b, dtype=np.float32)
    return {
        "p_true": p[rows, labels].astype(np.float32),
        "el2n": el2n.astype(np.float32),
        "margin": margin.astype(np.float32),
        "entropy": entropy.astype(np.float32),
        "max_prob": first.astype(np.float32),
        "top2_gap": (first - second).astype(np.float32),
    }, argmax == labels


def softmax(logits):
    """dynunc's `softmax_into`: exp(z - max) / sum, in float64, returned as float32."""
    logits = np.ascontiguousarray(logits, dtype=np.float32)
    shifted = (logits - logits.max(axis=1)[:, None]).astype(np.float64)
    e = _math["exp"](shifted)
    return (e / _sequential_sum(e)[:, None]).astype(np.float32)


def drift(before, now):
    """dynunc's `drift`: sum over classes of |p (ln(p + 1e-8) - ln(q + 1e-8))|, row by row."""
    q = before.astype(np.float64)
    p = now.astype(np.float64)
    log = _math["log"]
    return _sequential_sum(np.abs(p * (log(p + 1e-8) - log(q + 1e-8)))).astype(np.float32)


class Recorder:
    """Writes (or resumes) the store at `path` for `labels` (N integers below `classes`)."""

    def __init__(self, path, labels, classes, drift=True, exact=True):
        global _math
        _math = _EXACT if exact else _FAST
        self.path = os.fspath(path)
        self.labels = np.asarray(labels, dtype="<u4")
        if self.labels.ndim != 1:
            raise ValueError(f"labels: shape {self.labels.shape}; give one label per sample")
        self.n = len(self.labels)
        self.classes = int(classes)
        if self.n and int(self.labels.max()) >= self.classes:
            raise ValueError(
                f"labels: {int(self.labels.max())} is not below classes={self.classes}"
            )
        self.mask = ALL_MASK if drift else STANDARD_MASK
        self.fingerprint = hash_bytes(self.labels.tobytes())
        self.epochs = self._open()
        self.previous = None
        if drift:
            self.previous = np.zeros((self.n, self.classes), dtype=np.float32)
            self.seen_before = np.zeros(self.n, dtype=bool)
            self._load_state()
        self._fresh_epoch()

    def _state_path(self):
        return self.path + ".prev.npz"

    def _open(self):
        """Creates the store (header and labels, via a temporary file) or checks and resumes
        an existing one; returns its epoch count."""
        if not os.path.exists(self.path):
            tmp = self.path + ".tmp"
            with open(tmp, "wb") as f:
                f.write(_header(self.mask, self.n, self.classes, self.fingerprint, 0))
                f.write(self.labels.tobytes())
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
            return 0
        with open(self.path, "rb") as f:
            head = f.read(HEADER_LEN)
        if len(head) < HEADER_LEN or head[0:8] != MAGIC:
            raise ValueError(f"{self.path}: not a dynunc store; move it away or pick another path")
        want = _header(self.mask, self.n, self.classes, self.fingerprint, 0)
        if head[12:40] != want[12:40]:
            raise ValueError(
                f"{self.path}: holds another dataset's dynamics (samples, classes, fields or "
                "labels differ); move it away or pick another path"
            )
        epochs = int.from_bytes(head[40:48], "little")
        with open(self.path, "r+b") as f:  # drop a partial block a crash left
            f.truncate(self._offset(epochs))
        return epochs

    def _load_state(self):
        if self.epochs == 0:
            return
        try:
            state = np.load(self._state_path())
        except FileNotFoundError:
            raise ValueError(
                f"{self._state_path()}: missing, so drift cannot resume after epoch "
                f"{self.epochs} (close() removes it: a closed store is finished); delete "
                f"{self.path} to record anew, or record with drift=False into a new store"
            ) from None
        if int(state["epochs"]) != self.epochs:
            raise ValueError(
                f"{self._state_path()}: is from epoch {int(state['epochs'])}, the store holds "
                f"{self.epochs}; delete {self.path} to record anew"
            )
        self.previous = state["previous"]
        self.seen_before = state["seen"]

    def _block_len(self):
        columns = 6 + 1 + (1 if self.mask == ALL_MASK else 0)
        width = 4 * 6 + 1 + (4 if self.mask == ALL_MASK else 0)
        return width * self.n + 8 * (columns + 1)

    def _offset(self, epoch):
        return HEADER_LEN + 4 * self.n + epoch * self._block_len()

    def _fresh_epoch(self):
        self.cols = {name: np.zeros(self.n, dtype="<f4") for name in FLOAT_FIELDS}
        self.cols["drift"] = np.zeros(self.n, dtype="<f4")
        self.flags = np.zeros(self.n, dtype=np.uint8)

    def update(self, indices, logits):
        """Records a batch: `indices` (B dataset indices), `logits` (B x C, any float)."""
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        logits = np.asarray(logits, dtype=np.float32)
        if logits.ndim != 2 or logits.shape != (len(indices), self.classes):
            raise ValueError(
                f"logits: shape {logits.shape}; give {len(indices)} x {self.classes} "
                "(one row per index, one column per class)"
            )
        if len(indices) and (indices.min() < 0 or indices.max() >= self.n):
            raise ValueError(f"indices: give dataset indices from 0 to {self.n - 1}")
        if not np.isfinite(logits).all():
            raise ValueError("logits: not finite (the model diverged?); fix before recording")
        labels = self.labels[indices].astype(np.int64)
        fields, correct = sample_fields(logits, labels)
        for name in FLOAT_FIELDS:
            self.cols[name][indices] = fields[name]
        self.flags[indices] = SEEN | np.where(correct, CORRECT, 0).astype(np.uint8)
        if self.previous is not None:
            probs = softmax(logits)
            if len(np.unique(indices)) == len(indices):
                values = drift(self.previous[indices], probs)
                self.cols["drift"][indices] = np.where(self.seen_before[indices], values, 0.0)
                self.previous[indices] = probs
                self.seen_before[indices] = True
                return
            # One sample at a time where a batch repeats one, so each sees the one before.
            for i, row in zip(indices.tolist(), probs):
                value = drift(self.previous[i : i + 1], row[None, :])[0]
                self.cols["drift"][i] = value if self.seen_before[i] else 0.0
                self.previous[i] = row
                self.seen_before[i] = True

    def end_epoch(self):
        """Appends the epoch: its block, synced, then the header counting it."""
        parts, hashes = [], []
        for name in FLOAT_FIELDS:
            parts.append(self.cols[name].astype("<f4").tobytes())
        parts.append(self.flags.tobytes())
        if self.mask == ALL_MASK:
            parts.append(self.cols["drift"].astype("<f4").tobytes())
        for p in parts:
            hashes.append(hash_bytes(p).to_bytes(8, "little"))
        block = b"".join(parts) + b"".join(hashes) + self.epochs.to_bytes(8, "little")
        with open(self.path, "r+b") as f:
            f.seek(self._offset(self.epochs))
            f.write(block)
            f.flush()
            os.fsync(f.fileno())
            f.seek(0)
            f.write(_header(self.mask, self.n, self.classes, self.fingerprint, self.epochs + 1))
            f.flush()
            os.fsync(f.fileno())
        self.epochs += 1
        if self.previous is not None:
            tmp = self._state_path() + ".tmp.npz"
            np.savez(tmp, previous=self.previous, seen=self.seen_before, epochs=self.epochs)
            os.replace(tmp, self._state_path())
        self._fresh_epoch()

    def close(self):
        """Ends recording; the store stays, the drift state (only for resuming) is removed."""
        if self.previous is not None and os.path.exists(self._state_path()):
            os.remove(self._state_path())
