#!/usr/bin/env python3
"""A tiny GGUF with a SentencePiece (`llama`) vocabulary, and the token ids that transformers'
GGUF tokenizer (built with the `tokenizers` library from the same vocabulary) gives for fixed
texts. The vocabulary is a SentencePiece BPE model (byte fallback on) trained here on the
sentences below; the GGUF is written by the `gguf` package, as llama.cpp's converter writes one:
tokens, scores, token types, and the unknown/BOS/EOS ids.

    pip install gguf sentencepiece transformers tokenizers
    python crates/llm/scripts/make_spm_gguf.py   # writes crates/llm/tests/fixtures/spm_tiny.{gguf,json}
"""
import importlib.metadata
import io
import json
import pathlib

import gguf
import sentencepiece as spm
from transformers.integrations.gguf.gguf_tokenizer_mapping import convert_gguf_tokenizer, get_gguf_tokenizer

OUT = pathlib.Path(__file__).resolve().parents[1] / "tests/fixtures"

CORPUS = [
    "The heart is normal in size.", "The mediastinum is unremarkable.", "The lungs are clear.",
    "There is no pneumothorax or pleural effusion.", "No focal airspace consolidation.",
    "Mild cardiomegaly with small bilateral pleural effusions.", "Right lower lobe pneumonia.",
    "Left-sided chest tube in place.", "Healed fracture of the left posterior seventh rib.",
    "Atelectasis at the lung bases.", "Interval improvement of the pulmonary edema.",
    "Enlarged cardiomediastinal silhouette.", "Calcified granuloma in the right upper lobe.",
    "Degenerative changes of the thoracic spine.", "Stable 1.2 cm nodule in the left lung.",
    "Heart size is within normal limits.", "No acute cardiopulmonary abnormality.",
    "Support devices: endotracheal tube 4 cm above the carina.",
]

# Unseen words, digits, punctuation, repeated spaces, accents and an emoji (byte fallback),
# and the control tokens written out (kept whole as special tokens).
TEXTS = [
    "The heart is normal in size.",
    "No pneumothorax, effusion or consolidation; lungs clear.",
    "  Two  spaces   and\ttab, then 2024-11-30 at 07:45.",
    "Épanchement pleural — café 😀 naïve.",
    "<s>Hello</s> world",
    "",
]


def main():
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(CORPUS * 4), model_writer=model, vocab_size=400, model_type="bpe",
        byte_fallback=True, character_coverage=1.0, hard_vocab_limit=False, split_digits=True,
        bos_id=1, eos_id=2, unk_id=0, pad_id=-1, num_threads=1, minloglevel=2,
    )
    sp = spm.SentencePieceProcessor(model_proto=model.getvalue())
    n = sp.get_piece_size()
    tokens = [sp.id_to_piece(i) for i in range(n)]
    scores = [sp.get_score(i) for i in range(n)]
    kind = gguf.TokenType
    types = [
        kind.UNKNOWN if sp.is_unknown(i) else kind.CONTROL if sp.is_control(i)
        else kind.BYTE if sp.is_byte(i) else kind.NORMAL
        for i in range(n)
    ]
    path = OUT / "spm_tiny.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_unk_token_id(0)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()

    architecture, tokenizer_dict, _ = get_gguf_tokenizer(str(path))
    tokenizer, _ = convert_gguf_tokenizer(architecture, tokenizer_dict)
    cases = []
    for text in TEXTS:
        ids = tokenizer.encode(text, add_special_tokens=False).ids
        cases.append({
            "text": text,
            "ids": ids,
            "decoded": tokenizer.decode(ids, skip_special_tokens=False),
            # For information: SentencePiece's own segmentation of the text.
            "sentencepiece_ids": sp.encode(text),
        })
    out = {
        "generator": "crates/llm/scripts/make_spm_gguf.py",
        "versions": {p: importlib.metadata.version(p) for p in ["gguf", "sentencepiece", "transformers", "tokenizers"]},
        "vocab_size": n,
        "cases": cases,
    }
    (OUT / "spm_tiny.json").write_text(json.dumps(out, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
