"""PyTorch mirror of trrg's `tiny` preset, timed on the settings of `benches/train.rs`.

Same architecture and shapes as `TrrgConfig::tiny(137)` with trrg's default clue options
(refinement, locator, lexical clues, clue words), dropout off:
- visual encoder: a 3-convolution stem (3x3, stride 2, channels 16/32/64, BatchNorm + GELU
  each) in place of HF ViT's patchify, whose projection shrinks to 2x2 so the grid stays 8x8;
  then HF ViT (128 px, 1 channel, width 128, 4 pre-LN blocks of 4 heads, MLP 256), global
  token + 64 patch tokens per view, 2 views;
- text encoder: HF BERT (width 128, 2 blocks, 4 heads, MLP 256) for stage 1's sentences;
- alignment head (image/text projections to 128, learned temperature), zero-shot clue logits
  (positive vs negative prompt similarity), plus the refiner's bilinear term (width 64) and the
  locator's attention over both views' patch tokens (width 64), 14 clues;
- clue embedder (prompt mix + identity projections, LayerNorm, present/absent states);
- interaction: 2 blocks of pre-LN cross-attention (clues <- global, clues <- patches,
  visual <- clues, gated by "row has a clue") and pre-LN GELU MLPs (width 128, MLP 256);
- patch tokens pooled to 2x2 per view, projections to the LLM width, 4 marker embeddings;
  lexical clues (p_d times the mean LLM embedding of disease d's positive prompts) and clue
  words (the first positive prompt's tokens of every clue with p >= 0.5) in the soft prompt;
- LLM: HF Llama (vocab 137, width 192, MLP 512, 3 layers, 4 heads, 2 KV heads);
- stage 1: symmetric multi-positive InfoNCE (3 sentences of 16 tokens per study);
- stage 2: masked LM cross-entropy + BCE consistency, text encoder frozen; AdamW (two
  parameter groups, as trrg).

Prints one JSON object with the median seconds of each measurement:
  python benches/reference/trrg_tiny.py [--threads 2] [--repeats 10] [--batch 16]
"""

import argparse
import json
import pathlib

import torch
import torch.nn as nn
import torch.nn.functional as F
from transformers import BertConfig, BertModel, LlamaConfig, LlamaForCausalLM, ViTConfig, ViTModel

from time_encoders import timeit  # the same timing: a warm-up, then the median of the runs

VOCAB, SEQ, VIEWS, CLUES, D, D_LLM, D_HEAD, SENTENCE = 137, 60, 2, 14, 128, 192, 64, 16
PROMPTS = pathlib.Path(__file__).resolve().parents[2] / "crates/clue/assets/chexpert_prompts.json"


def token_ids(text):
    """Stand-in word ids (speed does not depend on which ids)."""
    return [1 + sum(map(ord, w)) % (VOCAB - 1) for w in text.split()]


class Stem(nn.Module):
    """trrg's convolutional stem, in the place of HF ViT's patch embedding."""

    def __init__(self):
        super().__init__()
        chans = [1, 16, 32, 64]
        self.convs = nn.ModuleList(nn.Conv2d(a, b, 3, stride=2, padding=1) for a, b in zip(chans, chans[1:]))
        self.norms = nn.ModuleList(nn.BatchNorm2d(c) for c in chans[1:])
        self.projection = nn.Conv2d(64, D, 2, stride=2)

    def forward(self, pixel_values, *args, **kwargs):
        x = pixel_values
        for conv, norm in zip(self.convs, self.norms):
            x = F.gelu(norm(conv(x)))
        return self.projection(x).flatten(2).transpose(1, 2)


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

    def forward(self, g, p, c, present):
        c = self.cp(self.cg(c, g), p)
        visual = torch.cat([g, p], 1)
        v = self.vf(visual + (self.vc(visual, c) - visual) * present)
        return v[:, : g.shape[1]], v[:, g.shape[1]:], self.cf(c)


class Locator(nn.Module):
    """Each disease attends over both views' patch tokens with its prompt identity as query."""

    def __init__(self):
        super().__init__()
        self.query, self.key = nn.Linear(D, D_HEAD), nn.Linear(D, D_HEAD)
        self.value, self.readout = nn.Linear(D, D_HEAD), nn.Linear(D, D_HEAD)

    def forward(self, patches, identity):
        scores = self.query(identity) @ self.key(patches).transpose(1, 2) / D_HEAD ** 0.5
        found = scores.softmax(-1) @ self.value(patches)  # [b, clues, D_HEAD]
        return (found * self.readout(identity)).sum(-1)


class TrrgTiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.vision = ViTModel(ViTConfig(image_size=128, patch_size=16, num_channels=1, hidden_size=D,
                                         num_hidden_layers=4, num_attention_heads=4, intermediate_size=256,
                                         layer_norm_eps=1e-6, hidden_dropout_prob=0.0,
                                         attention_probs_dropout_prob=0.0), add_pooling_layer=False)
        self.vision.embeddings.patch_embeddings = Stem()
        self.text = BertModel(BertConfig(vocab_size=VOCAB, hidden_size=D, num_hidden_layers=2,
                                         num_attention_heads=4, intermediate_size=256,
                                         max_position_embeddings=128, hidden_dropout_prob=0.0,
                                         attention_probs_dropout_prob=0.0), add_pooling_layer=False)
        self.image_proj, self.text_proj = nn.Linear(D, D), nn.Linear(D, D)
        self.logit_scale = nn.Parameter(torch.tensor(2.659))
        self.refine_image, self.refine_disease = nn.Linear(D, D_HEAD), nn.Linear(D, D_HEAD)
        self.locator = Locator()
        self.prompt_proj, self.identity_proj = nn.Linear(D, D), nn.Linear(D, D)
        self.state = nn.Parameter(torch.randn(2, D))
        self.clue_norm = nn.LayerNorm(D)
        self.visual_proj = nn.Linear(D, D)
        self.view_embed = nn.Parameter(torch.zeros(VIEWS, D))
        self.blocks = nn.ModuleList([Block(), Block()])
        self.visual_to_llm, self.clue_to_llm = nn.Linear(D, D_LLM), nn.Linear(D, D_LLM)
        self.markers = nn.Parameter(torch.randn(4, D_LLM))
        self.llm = LlamaForCausalLM(LlamaConfig(vocab_size=VOCAB, hidden_size=D_LLM, intermediate_size=512,
                                                num_hidden_layers=3, num_attention_heads=4,
                                                num_key_value_heads=2, max_position_embeddings=256))
        # The clue bank's words: every positive prompt's tokens (lexical clues, averaged per
        # disease) and each disease's first positive prompt (its clue words).
        diseases = json.loads(PROMPTS.read_text())["diseases"]
        assert len(diseases) == CLUES
        lexical, rows = [], []
        for d in diseases:
            ids = [i for prompt in d["positive"] for i in token_ids(prompt)]
            rows.append((len(lexical), len(ids)))
            lexical += ids
        weights = torch.zeros(CLUES, len(lexical))
        for d, (start, n) in enumerate(rows):
            weights[d, start:start + n] = 1.0 / n
        self.register_buffer("lexical_ids", torch.tensor(lexical))
        self.register_buffer("lexical_weights", weights)
        self.statements = [token_ids(d["positive"][0]) for d in diseases]

    def encode(self, images):
        b = images.shape[0]
        h = self.vision(pixel_values=images.flatten(0, 1)).last_hidden_state  # [b*v, 65, D]
        return h[:, 0].reshape(b, VIEWS, D), h[:, 1:].reshape(b, VIEWS, 64, D)

    def clue_words(self, p):
        """The statement tokens of every clue that is on, per row, padded; and their mask."""
        rows = [[i for d in range(CLUES) if p[b, d] >= 0.5 for i in self.statements[d]] for b in range(p.shape[0])]
        n = max(map(len, rows))
        ids = torch.zeros(len(rows), n, dtype=torch.long)
        real = torch.zeros(len(rows), n, dtype=torch.long)
        for b, row in enumerate(rows):
            ids[b, :len(row)], real[b, :len(row)] = torch.tensor(row, dtype=torch.long), 1
        return ids, real

    def prefix(self, images, pos, neg):
        b = images.shape[0]
        glob, patches = self.encode(images)
        pooled = glob.mean(1)
        img = F.normalize(self.image_proj(pooled), dim=-1)
        pe, ne = F.normalize(self.text_proj(pos), dim=-1), F.normalize(self.text_proj(neg), dim=-1)
        ident = (pos + neg) / 2
        logits = self.logit_scale.exp() * (img @ pe.T - img @ ne.T) \
            + self.refine_image(pooled) @ self.refine_disease(ident).T \
            + self.locator(patches.reshape(b, VIEWS * 64, D), ident)
        p = torch.sigmoid(logits)
        mix = p[..., None] * pos[None] + (1 - p[..., None]) * neg[None]
        clues = self.clue_norm(self.prompt_proj(mix) + self.identity_proj(ident)[None])
        clues = clues + p[..., None] * self.state[0] + (1 - p[..., None]) * self.state[1]
        g = self.visual_proj(glob) + self.view_embed
        pt = (self.visual_proj(patches) + self.view_embed[None, :, None]).reshape(b, VIEWS * 64, D)
        present = torch.ones(b, 1, 1)
        for block in self.blocks:
            g, pt, clues = block(g, pt, clues, present)
        grid = pt.reshape(b * VIEWS, 8, 8, D).permute(0, 3, 1, 2)
        pt = F.adaptive_avg_pool2d(grid, 2).reshape(b * VIEWS, D, 4).transpose(1, 2).reshape(b, VIEWS * 4, D)
        embed = self.llm.get_input_embeddings()
        lexical = self.lexical_weights @ embed(self.lexical_ids)  # [clues, D_LLM]
        tokens = self.clue_to_llm(clues) + p[..., None] * lexical[None]
        word_ids, word_mask = self.clue_words(p.detach())
        m = self.markers[:, None, None].expand(4, b, 1, D_LLM)
        visual = self.visual_to_llm(torch.cat([g, pt], 1))
        embeds = torch.cat([m[0], visual, m[1], m[2], tokens, embed(word_ids), m[3]], 1)
        mask = torch.cat([torch.ones(b, visual.shape[1] + 2 + 1 + CLUES, dtype=torch.long), word_mask,
                          torch.ones(b, 1, dtype=torch.long)], 1)
        return embeds, mask, logits

    def stage2_loss(self, images, ids, labels, pos, neg):
        embeds, mask, logits = self.prefix(images, pos, neg)
        n = embeds.shape[1]
        x = torch.cat([embeds, self.llm.get_input_embeddings()(ids)], 1)
        mask = torch.cat([mask, torch.ones_like(ids)], 1)
        out = self.llm(inputs_embeds=x, attention_mask=mask).logits[:, n - 1: n - 1 + ids.shape[1]]
        lm = F.cross_entropy(out.reshape(-1, VOCAB), ids.reshape(-1))
        return lm + F.binary_cross_entropy_with_logits(logits, labels)

    def stage1_loss(self, images, sent_ids, positive):
        glob, _ = self.encode(images)
        img = F.normalize(self.image_proj(glob.mean(1)), dim=-1)
        h = self.text(input_ids=sent_ids).last_hidden_state.mean(1)
        txt = F.normalize(self.text_proj(h), dim=-1)
        sim = self.logit_scale.exp() * img @ txt.T

        def term(log_p, dim):
            return (-(log_p * positive).sum(dim) / positive.sum(dim)).mean()
        return (term(F.log_softmax(sim, dim=1), 1) + term(F.log_softmax(sim, dim=0), 0)) / 2


def optimizer(model):
    vision = list(model.vision.parameters())
    ids = {id(p) for p in vision}
    rest = [p for p in model.parameters() if id(p) not in ids and p.requires_grad]
    return torch.optim.AdamW([{"params": vision}, {"params": rest}], lr=1e-4, eps=1e-8)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--batch", type=int, default=16, help="studies per step (16: the main job's)")
    ap.add_argument("--no-generate", action="store_true", help="time the training steps only")
    args = ap.parse_args()
    batch = args.batch
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = TrrgTiny()
    pos, neg = torch.randn(CLUES, D), torch.randn(CLUES, D)
    result = {"torch": torch.__version__, "threads": torch.get_num_threads(), "batch": batch}

    opt = optimizer(model)
    n_sent = 3 * batch
    sent = torch.randint(1, VOCAB, (n_sent, SENTENCE))
    positive = torch.tensor([[float(j % batch == i) for j in range(n_sent)] for i in range(batch)])

    def stage1():
        opt.zero_grad()
        model.stage1_loss(torch.randn(batch, VIEWS, 1, 128, 128), sent, positive).backward()
        opt.step()
    result["stage1_step_s"] = timeit(stage1, args.repeats)

    # Stage 2: the text encoder is frozen (the prompt embeddings are computed once).
    for p in model.text.parameters():
        p.requires_grad_(False)
    opt = optimizer(model)
    ids = torch.randint(1, VOCAB, (batch, SEQ))

    def stage2():
        opt.zero_grad()
        labels = (torch.rand(batch, CLUES) < 0.3).float()
        model.stage2_loss(torch.randn(batch, VIEWS, 1, 128, 128), ids, labels, pos, neg).backward()
        opt.step()
    result["stage2_step_s"] = timeit(stage2, args.repeats)

    if not args.no_generate:
        model.eval()
        for name, beams in [("greedy", 1), ("beam3", 3)]:
            @torch.no_grad()
            def generate():
                embeds, mask, _ = model.prefix(torch.randn(1, VIEWS, 1, 128, 128), pos, neg)
                bos = model.llm.get_input_embeddings()(torch.zeros(1, 1, dtype=torch.long))
                out = model.llm.generate(inputs_embeds=torch.cat([embeds, bos], 1),
                                         attention_mask=torch.cat([mask, torch.ones(1, 1, dtype=torch.long)], 1),
                                         max_new_tokens=SEQ, min_new_tokens=SEQ, num_beams=beams,
                                         do_sample=False, eos_token_id=0, pad_token_id=0)
                assert out.shape[1] == SEQ, out.shape
            result[f"generate_{name}_s"] = timeit(generate, args.repeats)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
