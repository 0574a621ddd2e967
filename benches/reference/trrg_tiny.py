"""PyTorch mirror of trrg's `tiny` preset, timed on the settings of `benches/train.rs`.

Same architecture and shapes as `TrrgConfig::tiny(137)` with dropout off:
- visual encoder: HF ViT (128 px, 1 channel, 16 px patches, width 128, 4 blocks of 4 heads,
  MLP 256), global token + 64 patch tokens per view, 2 views;
- text encoder: HF BERT (width 128, 2 blocks, 4 heads, MLP 256) for stage 1's sentences;
- alignment head (image/text projections to 128, learned temperature), zero-shot clue logits
  (positive vs negative prompt similarity) plus the refiner's bilinear correction, 14 clues;
- clue embedder (prompt mix + identity projections, LayerNorm, present/absent states);
- interaction: 2 blocks of pre-LN cross-attention (clues <- global, clues <- patches,
  visual <- clues) and pre-LN GELU MLPs (width 128, MLP 256);
- patch tokens pooled to 2x2 per view, projections to the LLM width, 4 marker embeddings;
- LLM: HF Llama (vocab 137, width 192, MLP 512, 3 layers, 4 heads, 2 KV heads);
- loss: masked LM cross-entropy + BCE consistency; AdamW (two parameter groups, as trrg).

Prints JSON with the median seconds of each measurement:
  python benches/reference/trrg_tiny.py [--threads 2] [--repeats 10]
"""

import argparse
import json

import torch
import torch.nn as nn
import torch.nn.functional as F
from transformers import BertConfig, BertModel, LlamaConfig, LlamaForCausalLM, ViTConfig, ViTModel

from time_encoders import timeit  # the same timing: a warm-up, then the median of the runs

VOCAB, BATCH, SEQ, VIEWS, CLUES, D = 137, 8, 60, 2, 14, 128


class Cross(nn.Module):
    def __init__(self):
        super().__init__()
        self.nq, self.nkv = nn.LayerNorm(D), nn.LayerNorm(D)
        self.att = nn.MultiheadAttention(D, 4, batch_first=True)

    def forward(self, q, kv):
        kv = self.nkv(kv)
        return q + self.att(self.nq(q), kv, kv, need_weights=False)[0]


class FFN(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm, self.inner, self.outer = nn.LayerNorm(D), nn.Linear(D, 256), nn.Linear(256, D)

    def forward(self, x):
        return x + self.outer(F.gelu(self.inner(self.norm(x))))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.cg, self.cp, self.vc = Cross(), Cross(), Cross()
        self.cf, self.vf = FFN(), FFN()

    def forward(self, g, p, c):
        c = self.cp(self.cg(c, g), p)
        v = self.vf(self.vc(torch.cat([g, p], 1), c))
        return v[:, : g.shape[1]], v[:, g.shape[1]:], self.cf(c)


class TrrgTiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.vision = ViTModel(ViTConfig(image_size=128, patch_size=16, num_channels=1, hidden_size=D,
                                         num_hidden_layers=4, num_attention_heads=4, intermediate_size=256,
                                         layer_norm_eps=1e-6, hidden_dropout_prob=0.0,
                                         attention_probs_dropout_prob=0.0), add_pooling_layer=False)
        self.text = BertModel(BertConfig(vocab_size=VOCAB, hidden_size=D, num_hidden_layers=2,
                                         num_attention_heads=4, intermediate_size=256,
                                         max_position_embeddings=128, hidden_dropout_prob=0.0,
                                         attention_probs_dropout_prob=0.0), add_pooling_layer=False)
        self.image_proj, self.text_proj = nn.Linear(D, D), nn.Linear(D, D)
        self.logit_scale = nn.Parameter(torch.tensor(2.659))
        self.refine_image, self.refine_disease = nn.Linear(D, D), nn.Linear(D, D)
        self.prompt_proj, self.identity_proj = nn.Linear(D, D), nn.Linear(D, D)
        self.state = nn.Parameter(torch.randn(2, D))
        self.clue_norm = nn.LayerNorm(D)
        self.visual_proj = nn.Linear(D, D)
        self.view_embed = nn.Parameter(torch.zeros(VIEWS, D))
        self.blocks = nn.ModuleList([Block(), Block()])
        self.visual_to_llm, self.clue_to_llm = nn.Linear(D, 192), nn.Linear(D, 192)
        self.markers = nn.Parameter(torch.randn(4, 192))
        self.llm = LlamaForCausalLM(LlamaConfig(vocab_size=VOCAB, hidden_size=192, intermediate_size=512,
                                                num_hidden_layers=3, num_attention_heads=4,
                                                num_key_value_heads=2, max_position_embeddings=256))

    def encode(self, images):
        b = images.shape[0]
        h = self.vision(pixel_values=images.flatten(0, 1)).last_hidden_state  # [b*v, 65, D]
        return h[:, 0].reshape(b, VIEWS, D), h[:, 1:].reshape(b, VIEWS, 64, D)

    def study(self, glob):
        return F.normalize(self.image_proj(glob.mean(1)), dim=-1)

    def prefix(self, images, pos, neg):
        b = images.shape[0]
        glob, patches = self.encode(images)
        pooled = glob.mean(1)
        img = F.normalize(self.image_proj(pooled), dim=-1)
        pe, ne = F.normalize(self.text_proj(pos), dim=-1), F.normalize(self.text_proj(neg), dim=-1)
        ident = (pos + neg) / 2
        logits = self.logit_scale.exp() * (img @ pe.T - img @ ne.T) \
            + self.refine_image(pooled) @ self.refine_disease(ident).T
        p = torch.sigmoid(logits)[..., None]
        mix = p * pos[None] + (1 - p) * neg[None]
        clues = self.clue_norm(self.prompt_proj(mix) + self.identity_proj(ident)[None])
        clues = clues + p * self.state[0] + (1 - p) * self.state[1]
        g = self.visual_proj(glob) + self.view_embed
        pt = (self.visual_proj(patches) + self.view_embed[None, :, None]).reshape(b, VIEWS * 64, D)
        for block in self.blocks:
            g, pt, clues = block(g, pt, clues)
        grid = pt.reshape(b * VIEWS, 8, 8, D).permute(0, 3, 1, 2)
        pt = F.adaptive_avg_pool2d(grid, 2).reshape(b * VIEWS, D, 4).transpose(1, 2).reshape(b, VIEWS * 4, D)
        m = self.markers[:, None, None].expand(4, b, 1, 192)
        embeds = torch.cat([m[0], self.visual_to_llm(torch.cat([g, pt], 1)), m[1],
                            m[2], self.clue_to_llm(clues), m[3]], 1)
        return embeds, logits

    def stage2_loss(self, images, ids, labels, pos, neg):
        embeds, logits = self.prefix(images, pos, neg)
        n = embeds.shape[1]
        x = torch.cat([embeds, self.llm.get_input_embeddings()(ids)], 1)
        out = self.llm(inputs_embeds=x).logits[:, n - 1: n - 1 + ids.shape[1]]
        lm = F.cross_entropy(out.reshape(-1, VOCAB), ids.reshape(-1))
        return lm + F.binary_cross_entropy_with_logits(logits, labels)

    def stage1_loss(self, images, sent_ids, positive):
        glob, _ = self.encode(images)
        img = self.study(glob)
        h = self.text(input_ids=sent_ids).last_hidden_state.mean(1)
        txt = F.normalize(self.text_proj(h), dim=-1)
        sim = self.logit_scale.exp() * img @ txt.T
        logp = F.log_softmax(sim, dim=1)
        return -(logp * positive).sum(1).div(positive.sum(1)).mean()


def optimizer(model):
    vision = list(model.vision.parameters())
    ids = {id(p) for p in vision}
    rest = [p for p in model.parameters() if id(p) not in ids and p.requires_grad]
    return torch.optim.AdamW([{"params": vision}, {"params": rest}], lr=1e-4, eps=1e-8)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=10)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = TrrgTiny()
    pos, neg = torch.randn(CLUES, D), torch.randn(CLUES, D)
    result = {"torch": torch.__version__, "threads": torch.get_num_threads()}

    opt = optimizer(model)
    sent = torch.randint(1, VOCAB, (24, 16))
    positive = torch.tensor([[float(j % BATCH == i) for j in range(24)] for i in range(BATCH)])

    def stage1():
        opt.zero_grad()
        model.stage1_loss(torch.randn(BATCH, VIEWS, 1, 128, 128), sent, positive).backward()
        opt.step()
    result["stage1_step_batch8_s"] = timeit(stage1, args.repeats)

    # Stage 2: the text encoder is frozen (the prompt embeddings are computed once).
    for p in model.text.parameters():
        p.requires_grad_(False)
    opt = optimizer(model)
    ids = torch.randint(1, VOCAB, (BATCH, SEQ))

    def stage2():
        opt.zero_grad()
        labels = (torch.rand(BATCH, CLUES) < 0.3).float()
        model.stage2_loss(torch.randn(BATCH, VIEWS, 1, 128, 128), ids, labels, pos, neg).backward()
        opt.step()
    result["stage2_step_batch8_s"] = timeit(stage2, args.repeats)

    model.eval()
    for name, beams in [("greedy", 1), ("beam3", 3)]:
        @torch.no_grad()
        def generate():
            embeds, _ = model.prefix(torch.randn(1, VIEWS, 1, 128, 128), pos, neg)
            bos = model.llm.get_input_embeddings()(torch.zeros(1, 1, dtype=torch.long))
            out = model.llm.generate(inputs_embeds=torch.cat([embeds, bos], 1), max_new_tokens=SEQ,
                                     min_new_tokens=SEQ, num_beams=beams, do_sample=False,
                                     eos_token_id=0, pad_token_id=0)
            assert out.shape[1] == SEQ, out.shape
        result[f"generate_{name}_s"] = timeit(generate, args.repeats)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
