#!/usr/bin/env python3
"""Writes trrg's DICOM fixtures and the pydicom reference values its tests compare with.

1. Two DX files written from shared/assets/rg1_chest_pa_512.png (8-bit gray g), 12 bits stored
   in 16 allocated, rescale slope 1/16, a LINEAR_EXACT window (center 127.5, width 255), so that
   a viewer shows exactly g / 255:
   - rg1_dx_monochrome2.dcm: MONOCHROME2, stored 16 g, Explicit VR Little Endian;
   - rg1_dx_monochrome1_rle.dcm: MONOCHROME1, stored 4080 - 16 g, RLE Lossless;
   and rg1_dx_jpeg_baseline.dcm, MONOCHROME2, 8 bits, the image at 256 px as a JPEG baseline
   (Pillow, quality 90) encapsulated, without a window (so min-max normalized).
2. pydicom_reference.json: for monochrome test files of the pydicom wheel, the displayed gray
   values in [0, 1] as pydicom computes them (modality LUT, then the first VOI LUT or window,
   else min-max; MONOCHROME1 inverted), summarized by mean, standard deviation and a grid of
   sampled pixels.

Usage: python3 scripts/dicom-fixtures.py PYDICOM_TEST_FILES_DIR
(needs pydicom 3, numpy and Pillow; the test-files directory is pydicom/data/test_files of the
pydicom wheel that scripts/fetch-assets.sh unpacks into .assets/pydicom/).
"""
import json
import pathlib
import sys

import numpy as np
import pydicom
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels import apply_modality_lut, apply_voi_lut
from pydicom.uid import ExplicitVRLittleEndian, RLELossless, generate_uid

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "crates/data/tests/fixtures/dicom"
# A copy of shared/assets/rg1_chest_pa_512.png.
PNG = OUT / "rg1_chest_pa_512.png"

# Monochrome files of pydicom's wheel, one per transfer syntax or layout trrg reads.
READABLE = [
    "CT_small.dcm",  # explicit VR little endian, signed, rescale intercept -1024
    "MR_small.dcm",  # explicit VR little endian, window center/width
    "MR_small_implicit.dcm",  # implicit VR little endian
    "MR_small_bigendian.dcm",  # explicit VR big endian
    "MR_small_RLE.dcm",  # RLE lossless
    "MR_small_jp2klossless.dcm",  # JPEG 2000 lossless
    "JPEG2000.dcm",  # JPEG 2000
    "image_dfl.dcm",  # deflated explicit VR little endian
]
# Files trrg must refuse with a clear error, and a word the error must contain.
REFUSED = {
    "MR_small_jpeg_ls_lossless.dcm": "transfer syntax",  # JPEG-LS: no pure-Rust decoder
    "JPGExtended.dcm": "transfer syntax",  # 12-bit JPEG extended: jpeg-decoder reads 8 bits
    "SC_rgb_rle.dcm": "photometric",  # colour
    "MR_truncated.dcm": "",  # pixel data cut short
    "rtplan.dcm": "Rows",  # not an image
}


def write_dx(name, photometric, stored, syntax):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"  # Digital X-Ray, for presentation
    meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=[name])
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid(entropy_srcs=["rg1 study"])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=["rg1 series"])
    ds.Modality = "DX"
    ds.PatientName = "SYNTHETIC^FIXTURE"
    ds.PatientID = "rg1"
    ds.ViewPosition = "PA"
    ds.Rows, ds.Columns = stored.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.RescaleSlope = "0.0625"
    ds.RescaleIntercept = "0"
    ds.RescaleType = "US"
    ds.WindowCenter = "127.5"
    ds.WindowWidth = "255"
    ds.VOILUTFunction = "LINEAR_EXACT"
    ds.PresentationLUTShape = "INVERSE" if photometric == "MONOCHROME1" else "IDENTITY"
    ds.PixelData = stored.astype("<u2").tobytes()
    if syntax != ExplicitVRLittleEndian:
        ds.compress(syntax, encoding_plugin="pydicom")
    ds.save_as(OUT / name, enforce_file_format=True)
    print("wrote", OUT / name)


def write_jpeg_dx(name, g):
    import io

    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEGBaseline8Bit

    small = Image.fromarray(g.astype(np.uint8)).resize((256, 256), Image.BILINEAR)
    buf = io.BytesIO()
    small.save(buf, format="JPEG", quality=90)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
    meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=[name])
    meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "DX"
    ds.PatientName = "SYNTHETIC^FIXTURE"
    ds.Rows, ds.Columns = 256, 256
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.PixelData = encapsulate([buf.getvalue()])
    ds["PixelData"].is_undefined_length = True
    ds.save_as(OUT / name, enforce_file_format=True)
    print("wrote", OUT / name)


def displayed(ds):
    """Gray values in [0, 1] as a viewer shows the first frame."""
    arr = ds.pixel_array
    if getattr(ds, "NumberOfFrames", 1) > 1:
        arr = arr[0]
    values = apply_modality_lut(arr, ds).astype(np.float64)
    has_voi = "VOILUTSequence" in ds or "WindowCenter" in ds
    if has_voi:
        shown = apply_voi_lut(values, ds, index=0, prefer_lut=True).astype(np.float64)
        if "VOILUTSequence" in ds:
            bits = ds.VOILUTSequence[0].LUTDescriptor[2]
            lo, hi = 0.0, float(2**bits - 1)
        else:
            # pydicom windows into the range of the stored values' type.
            bits = ds.BitsStored
            if ds.PixelRepresentation == 1:
                lo, hi = -(2.0 ** (bits - 1)), 2.0 ** (bits - 1) - 1
            else:
                lo, hi = 0.0, 2.0**bits - 1
            # ... unless the modality LUT made them real-valued: then 0..2^bits - 1 as well.
        shown = (shown - lo) / (hi - lo)
    else:
        lo, hi = values.min(), values.max()
        shown = (values - lo) / (hi - lo) if hi > lo else np.zeros_like(values)
    shown = np.clip(shown, 0.0, 1.0)
    if ds.PhotometricInterpretation == "MONOCHROME1":
        shown = 1.0 - shown
    return shown


def main():
    test_files = pathlib.Path(sys.argv[1])
    OUT.mkdir(parents=True, exist_ok=True)
    g = np.asarray(Image.open(PNG).convert("L"), dtype=np.uint16)
    write_dx("rg1_dx_monochrome2.dcm", "MONOCHROME2", 16 * g, ExplicitVRLittleEndian)
    write_dx("rg1_dx_monochrome1_rle.dcm", "MONOCHROME1", 4080 - 16 * g, RLELossless)
    write_jpeg_dx("rg1_dx_jpeg_baseline.dcm", g)
    reference = {"pydicom": pydicom.__version__, "readable": {}, "refused": REFUSED}
    for name in READABLE + ["rg1_dx_jpeg_baseline.dcm"]:
        path = OUT / name if name.startswith("rg1_") else test_files / name
        ds = pydicom.dcmread(path)
        shown = displayed(ds)
        rows, cols = shown.shape
        ys = np.linspace(0, rows - 1, 8).round().astype(int)
        xs = np.linspace(0, cols - 1, 8).round().astype(int)
        reference["readable"][name] = {
            "transfer_syntax": str(ds.file_meta.TransferSyntaxUID),
            "photometric": ds.PhotometricInterpretation,
            "rows": rows,
            "columns": cols,
            "mean": float(shown.mean()),
            "std": float(shown.std()),
            "samples": [[int(y), int(x), float(shown[y, x])] for y in ys for x in xs],
        }
        print(name, ds.file_meta.TransferSyntaxUID.name, rows, cols, round(float(shown.mean()), 4))
    (OUT / "pydicom_reference.json").write_text(json.dumps(reference, indent=1) + "\n")
    print("wrote", OUT / "pydicom_reference.json")


if __name__ == "__main__":
    main()
