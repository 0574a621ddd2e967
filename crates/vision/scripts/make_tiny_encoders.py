"""Writes tiny random HF checkpoints (ViT, Swin, BERT) and their transformers outputs, the golden
fixtures of trrg-vision's and trrg-text's encoder tests.

Run once in a venv with torch and transformers (versions are recorded in the fixtures):
    python crates/vision/scripts/make_tiny_encoders.py
Writes crates/vision/tests/fixtures/{tiny_vit,tiny_swin,encoders_golden.json} and
crates/text/tests/fixtures/{tiny_bert,tiny_bert_golden.json}.
"""
import json
import pathlib

import torch
import transformers
from transformers import BertConfig, BertModel, SwinConfig, SwinModel, ViTConfig, ViTModel

ROOT = pathlib.Path(__file__).resolve().parents[3]
VISION = ROOT / "crates/vision/tests/fixtures"
TEXT = ROOT / "crates/text/tests/fixtures"


def flat(t):
    return [round(float(v), 8) for v in t.detach().reshape(-1).tolist()]


def randomize(model, seed):
    """Random weights with non-trivial LayerNorms and biases (HF's init leaves them 1 and 0)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("weight") and p.dim() == 1:
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.2 * torch.randn(p.shape, generator=g))
    return model.eval()


def save(model, path):
    model.save_pretrained(path, safe_serialization=True)


def vision_case(model_cls, path, shape, seed, **kwargs):
    model = model_cls.from_pretrained(path).eval()  # fresh: HF Swin mutates window state
    g = torch.Generator().manual_seed(seed)
    pixels = torch.randn(shape, generator=g)
    with torch.no_grad():
        out = model(pixel_values=pixels, **kwargs)
    hidden = out.last_hidden_state
    if model_cls is ViTModel:
        pooled, patch = hidden[:, 0], hidden[:, 1:]  # trrg: CLS token as global, then patches
    else:
        pooled, patch = out.pooler_output, hidden
    return {
        "pixel_shape": list(shape),
        "pixel_values": flat(pixels),
        "patch_tokens_shape": list(patch.shape),
        "patch_tokens": flat(patch),
        "global": flat(pooled),
    }


def main():
    torch.manual_seed(0)
    versions = {"torch": torch.__version__, "transformers": transformers.__version__}

    vit_dir = VISION / "tiny_vit"
    vit = randomize(
        ViTModel(
            ViTConfig(
                hidden_size=32,
                num_hidden_layers=2,
                num_attention_heads=4,
                intermediate_size=64,
                image_size=32,
                patch_size=8,
                num_channels=3,
                layer_norm_eps=1e-6,
            )
        ),
        1,
    )
    save(vit, vit_dir)

    swin_dir = VISION / "tiny_swin"
    swin = randomize(
        SwinModel(
            SwinConfig(
                image_size=36,
                patch_size=4,
                num_channels=3,
                embed_dim=16,
                depths=[2, 2],
                num_heads=[2, 4],
                window_size=4,
                mlp_ratio=2.0,
            )
        ),
        2,
    )
    save(swin, swin_dir)

    golden = {
        "versions": versions,
        "vit": {
            # 32 px: the stored 4x4 position table; 48x32: bicubic interpolation to 6x4.
            "cases": [
                vision_case(ViTModel, vit_dir, (2, 3, 32, 32), 10),
                vision_case(ViTModel, vit_dir, (1, 3, 48, 32), 11, interpolate_pos_encoding=True),
            ]
        },
        "swin": {
            # 36 px: 9x9 map padded to 12x12 windows in stage 1, odd map padded for merging,
            # 5x5 -> 8x8 with shifts in stage 2; 28 px: stage 2 is 4x4 = one unshifted window;
            # 34x30: image padded to whole patches.
            "cases": [
                vision_case(SwinModel, swin_dir, (2, 3, 36, 36), 20),
                vision_case(SwinModel, swin_dir, (1, 3, 28, 28), 21),
                vision_case(SwinModel, swin_dir, (1, 3, 34, 30), 22),
            ]
        },
    }
    (VISION / "encoders_golden.json").write_text(json.dumps(golden))

    bert_dir = TEXT / "tiny_bert"
    bert = randomize(
        BertModel(
            BertConfig(
                vocab_size=99,
                hidden_size=32,
                num_hidden_layers=2,
                num_attention_heads=4,
                intermediate_size=64,
                max_position_embeddings=40,
            )
        ),
        3,
    )
    save(bert, bert_dir)
    bert = BertModel.from_pretrained(bert_dir).eval()
    g = torch.Generator().manual_seed(30)
    ids = torch.randint(1, 99, (3, 9), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    mask[2, 3:] = 0
    ids = ids * mask  # pad id 0
    with torch.no_grad():
        hidden = bert(input_ids=ids, attention_mask=mask).last_hidden_state
    m = mask.unsqueeze(-1).float()
    pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)  # sentence-transformers' mean pooling
    bert_golden = {
        "versions": versions,
        "input_ids": ids.tolist(),
        "attention_mask": mask.tolist(),
        # Hidden states of real tokens only: padded positions are not defined the same way.
        "last_hidden_state": [flat(hidden[b, : int(mask[b].sum())]) for b in range(3)],
        "mean_pooled": [flat(p) for p in pooled],
        "mean_pooled_normalized": [flat(p) for p in torch.nn.functional.normalize(pooled, dim=-1)],
    }
    (TEXT / "tiny_bert_golden.json").write_text(json.dumps(bert_golden))
    print("wrote", VISION, TEXT, versions)


if __name__ == "__main__":
    main()
