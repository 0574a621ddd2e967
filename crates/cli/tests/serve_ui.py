#!/usr/bin/env python3
"""End-to-end test of `trrg serve`'s web page in headless Chromium (Debian's chromium and
chromium-driver, driven by selenium): upload the views, wait for the report, check that the
report, a bar per disease and the evidence heatmap are on the page, and save a screenshot.

    python3 crates/cli/tests/serve_ui.py --bin target/debug/trrg --checkpoint RUN \
        --views frontal.png lateral.png --screenshot out.png
"""
import argparse
import pathlib
import subprocess
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait


def start_server(binary, checkpoint):
    proc = subprocess.Popen(
        [binary, "serve", "--checkpoint", checkpoint, "--addr", "127.0.0.1:0"],
        stderr=subprocess.PIPE,
        text=True,
    )
    line = proc.stderr.readline()
    if "http://" not in line:
        proc.kill()
        sys.exit(f"serve_ui: trrg serve did not start: {line}{proc.stderr.read()}")
    return proc, line.split("http://")[1].split("/")[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--views", nargs="+", required=True)
    ap.add_argument("--screenshot", required=True)
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    args = ap.parse_args()
    proc, addr = start_server(args.bin, args.checkpoint)
    options = webdriver.ChromeOptions()
    options.binary_location = args.chromium
    for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1400,1100"]:
        options.add_argument(flag)
    driver = None
    try:
        driver = webdriver.Chrome(service=Service(args.chromedriver), options=options)
        driver.get(f"http://{addr}/")
        wait = WebDriverWait(driver, 60)
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "input[type=file]")) > 0)
        inputs = driver.find_elements(By.CSS_SELECTOR, "input[type=file]")
        if len(inputs) != len(args.views):
            sys.exit(f"serve_ui: the page asks for {len(inputs)} views, {len(args.views)} given")
        for field, view in zip(inputs, args.views):
            field.send_keys(str(pathlib.Path(view).resolve()))
        start = time.time()
        driver.find_element(By.ID, "submit").click()
        WebDriverWait(driver, 180).until(
            lambda d: d.execute_script("return document.body.dataset.ready === '1'")
            or d.find_element(By.ID, "error").text
        )
        error = driver.find_element(By.ID, "error").text
        if error:
            sys.exit(f"serve_ui: the page shows an error: {error}")
        report = driver.find_element(By.ID, "report").text
        bars = driver.find_elements(By.CSS_SELECTOR, "#bars .bar")
        diseases = driver.execute_script("return info.diseases.length")
        # Red heatmap pixels on the view canvases.
        red = driver.execute_script(
            """
            let n = 0;
            for (const c of document.querySelectorAll('#views canvas')) {
              const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
              for (let i = 0; i < d.length; i += 4) if (d[i] > d[i + 1] + 40 && d[i] > d[i + 2] + 40) n++;
            }
            return n;
            """
        )
        scale = driver.find_element(By.ID, "scale").text
        driver.save_screenshot(args.screenshot)
        print(f"serve_ui: report in {time.time() - start:.1f} s: {report!r}")
        print(f"serve_ui: {len(bars)} bars for {diseases} diseases, {red} heatmap pixels; "
              f"screenshot {args.screenshot}")
        print(f"serve_ui: {scale}")
        if not report.strip() or report.strip() == "-":
            sys.exit("serve_ui: no report on the page")
        if len(bars) != diseases or diseases == 0:
            sys.exit(f"serve_ui: {len(bars)} bars for {diseases} diseases")
        if "even share" not in scale:
            sys.exit(f"serve_ui: the evidence map has no scale on the page ({scale!r})")
        if red < 100:
            sys.exit(f"serve_ui: no evidence heatmap on the views ({red} red pixels)")
    finally:
        # The server goes down with the test, whatever failed.
        if driver is not None:
            driver.quit()
        proc.kill()


if __name__ == "__main__":
    main()
