#!/usr/bin/env python3
"""Contact sheet of a trrg synthetic dataset: frontal + lateral view of N studies, findings captioned.

Usage: python contact_sheet.py DATASET_DIR OUT.png [--ids id1,id2,...] [--n 8]
Needs Pillow (pip install pillow==13.0.0). Made docs/img/synth_examples.png with:
  trrg synth --out /tmp/synth --studies 1200 && python contact_sheet.py /tmp/synth docs/img/synth_examples.png
"""
import json
import sys
import textwrap

from PIL import Image, ImageDraw, ImageFont


def describe(f):
    """Short caption of the rendered findings (findings.json)."""
    out = []
    ctr = f["cardiothoracic_ratio"]
    if ctr > 0.55:
        out.append(f"cardiomegaly (CTR {ctr:.2f})")
    elif ctr > 0.5:
        out.append(f"borderline heart (CTR {ctr:.2f})")
    if f["enlarged_mediastinum"]:
        out.append("wide mediastinum")
    if f["effusion"]:
        out.append(f"{f['effusion'][1]} {f['effusion'][0]} effusion")
    if f["pneumothorax"]:
        out.append(f"{f['pneumothorax'][1]} {f['pneumothorax'][0]} pneumothorax")
    if f["consolidation"]:
        out.append(f"consolidation {f['consolidation'].replace('_', ' ')}")
    if f["pneumonia"]:
        out.append(f"pneumonia {f['pneumonia'].replace('_', ' ')}")
    if f["opacity"]:
        out.append(("faint " if f["opacity"][1] else "") + f"opacity {f['opacity'][0].replace('_', ' ')}")
    if f["edema"]:
        out.append("edema")
    if f["atelectasis"]:
        out.append(f"{f['atelectasis']} atelectasis")
    if f["lesion"]:
        kind, lobe, cm = f["lesion"]
        out.append(f"{cm:.1f} cm {kind} {lobe.replace('_', ' ')}")
    if f["pleural_thickening"]:
        out.append(f"{f['pleural_thickening']} pleural thickening")
    if f["rib_fracture"]:
        out.append(f"{f['rib_fracture']} rib fracture")
    out += [d.replace("_", " ") for d in f["devices"]]
    if f["granuloma"]:
        out.append("granuloma")
    return ", ".join(out) or "normal"


def main():
    data, out = sys.argv[1], sys.argv[2]
    args = sys.argv[3:]
    n = int(args[args.index("--n") + 1]) if "--n" in args else 8
    findings = json.load(open(f"{data}/findings.json"))
    if "--ids" in args:
        ids = args[args.index("--ids") + 1].split(",")
    else:
        normal = [i for i, f in findings.items() if describe(f) == "normal"][:1]
        ids = normal + sorted((i for i in findings if describe(findings[i]) != "normal"),
                              key=lambda i: -len(describe(findings[i])))[: n - len(normal)]
    tile, cap = 256, 64
    cols = 4
    rows = (len(ids) + cols - 1) // cols
    sheet = Image.new("L", (cols * 2 * tile + (cols - 1) * 12, rows * (tile + cap) + 40), 255)
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=13)
    draw.text((8, 10), "trrg-synth: SYNTHETIC studies (frontal PA | lateral), captions = rendered findings",
              fill=0, font=ImageFont.load_default(size=16))
    for k, sid in enumerate(ids):
        r, c = divmod(k, cols)
        x, y = c * (2 * tile + 12), 40 + r * (tile + cap)
        for v in range(2):
            im = Image.open(f"{data}/images/{sid}/{v}.png").convert("L").resize((tile, tile))
            sheet.paste(im, (x + v * tile, y))
        caption = f"{sid}: {describe(findings[sid])}"
        for j, line in enumerate(textwrap.wrap(caption, 70)[:3]):
            draw.text((x + 2, y + tile + 4 + 16 * j), line, fill=0, font=font)
    sheet.save(out, optimize=True)
    print("wrote", out, "with", ", ".join(ids))


if __name__ == "__main__":
    main()
