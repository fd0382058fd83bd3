#!/usr/bin/env python3
"""tools/count_speckles.py DIR [DIR ...]: isolated specks in the PNGs of `loradiff sample --out-dir`.

A speck is a blob of at most 4 pixels (8-connected) at least 3 pixels (Chebyshev) from the image's
largest blob; "bright" counts blobs of pixels >= 100 (of 255), "faint" blobs of pixels >= 40. Grey
8-bit PNGs (the sample's upscaled per-image PNGs are read back at 28x28). Standard library only (zlib),
so it runs where numpy is not installed. docs/results.md, "Sample quality", uses it:

    loradiff sample --model models/mnist-t2i.safetensors --prompt "a handwritten digit seven" \
      --prompt "a handwritten digit one" --n 40 --seed 1 --guidance 2 --eta 0 --out g2.png --out-dir g2
    python3 tools/count_speckles.py g2
"""
import glob
import struct
import sys
import zlib


def read_png(path):
    """8-bit PNG -> rows of grey values (the first channel of colour images)."""
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise SystemExit(f"{path}: not a PNG")
    pos, idat, width, height, ctype = 8, b"", 0, 0, 0
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            width, height, depth, ctype = struct.unpack(">IIBB", body[:10])
            if depth != 8:
                raise SystemExit(f"{path}: bit depth {depth}, expected 8")
        elif kind == b"IDAT":
            idat += body
    ch = {0: 1, 2: 3, 4: 2, 6: 4}[ctype]
    raw, stride, rows, prev, i = zlib.decompress(idat), width * ch, [], bytearray(width * ch), 0
    for _ in range(height):
        f, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - ch] if x >= ch else 0
            b = prev[x]
            c = prev[x - ch] if x >= ch else 0
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(list(line[::ch]))
        prev = line
    if height > 28 and height % 28 == 0:  # an upscaled sample: back to one value per model pixel
        k = height // 28
        rows = [r[::k] for r in rows[::k]]
    return rows


def blobs(img, threshold):
    """8-connected blobs of pixels >= threshold, largest first."""
    h, w = len(img), len(img[0])
    seen, out = [[False] * w for _ in range(h)], []
    for y in range(h):
        for x in range(w):
            if img[y][x] < threshold or seen[y][x]:
                continue
            stack, pixels = [(y, x)], []
            seen[y][x] = True
            while stack:
                a, b = stack.pop()
                pixels.append((a, b))
                for dy in (-1, 0, 1):
                    for dx in (-1, 0, 1):
                        yy, xx = a + dy, b + dx
                        if 0 <= yy < h and 0 <= xx < w and img[yy][xx] >= threshold and not seen[yy][xx]:
                            seen[yy][xx] = True
                            stack.append((yy, xx))
            out.append(pixels)
    return sorted(out, key=len, reverse=True)


def specks(img, threshold):
    found = blobs(img, threshold)
    if not found:
        return 0
    digit = found[0]
    return sum(1 for b in found[1:] if len(b) <= 4 and
               min(max(abs(a - y), abs(c - x)) for (a, c) in b for (y, x) in digit) >= 3)


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__.splitlines()[0])
    for d in sys.argv[1:]:
        files = sorted(glob.glob(d + "/*.png"))
        if not files:
            raise SystemExit(f"{d}: no PNG files")
        imgs = [read_png(f) for f in files]
        bright = sum(specks(i, 100) for i in imgs)
        faint = sum(specks(i, 40) for i in imgs)
        print(f"{d}: {len(imgs)} images, {bright} bright specks (>= 100), {faint} faint specks (>= 40)")


if __name__ == "__main__":
    main()
