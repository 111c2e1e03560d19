"""Pillow peer for the preprocessing benchmark (run by `cargo bench --bench pipeline`).

Reads a file list, does what the write-up's torchvision pipeline does to each image
(open -> convert("L") -> resize((size, size), BILINEAR)), and prints one JSON line:
{"procs": N, "images": N, "seconds": S}. With --draft, each JPEG is first drafted to grey at the
output size (`Image.draft("L", (size, size))`: libjpeg-turbo's DCT-domain scaling), the peer of
preprocess's `decode: scaled`. With --dump, also writes the resized pixels of the
list (one pass, in order) to a raw u8 file for a pixel-level comparison.
"""

import argparse
import json
import time
from multiprocessing import Pool

from PIL import Image

SIZE = 224


DRAFT = False


def prep(path):
    with Image.open(path) as im:
        if DRAFT:
            im.draft("L", (SIZE, SIZE))
        return im.convert("L").resize((SIZE, SIZE), Image.BILINEAR).tobytes()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("list")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--procs", type=int, default=1)
    ap.add_argument("--dump")
    ap.add_argument("--draft", action="store_true")
    a = ap.parse_args()
    global DRAFT
    DRAFT = a.draft
    files = [l for l in open(a.list).read().splitlines() if l]
    if a.dump:
        with open(a.dump, "wb") as f:
            for p in files:
                f.write(prep(p))
    work = files * a.repeat
    start = time.perf_counter()
    if a.procs == 1:
        for p in work:
            prep(p)
    else:
        with Pool(a.procs) as pool:
            for _ in pool.imap(prep, work, chunksize=16):
                pass
    secs = time.perf_counter() - start
    print(json.dumps({"procs": a.procs, "images": len(work), "seconds": secs}))


if __name__ == "__main__":
    main()
