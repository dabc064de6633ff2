package ai

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/binary"
	"hash/adler32"
	"image/png"
	"io"
	"testing"
)

func TestAdler32Combine(t *testing.T) {
	data := make([]byte, 200000)
	for i := range data {
		data[i] = byte(i*7 + i/300)
	}
	for _, cut := range []int{0, 1, 65521, 100000, len(data)} {
		got := adler32Combine(adler32.Checksum(data[:cut]), adler32.Checksum(data[cut:]), len(data)-cut)
		if want := adler32.Checksum(data); got != want {
			t.Errorf("cut at %d: combined %08x, want %08x", cut, got, want)
		}
	}
}

// The banded encoder must give a PNG that a strict decoder (zlib checksum included) reads back
// pixel for pixel.
func TestBandedPNGDecodesExactly(t *testing.T) {
	seed := newImageSeed("m", "a lighthouse", "", 3)
	for _, size := range [][2]int{{1024, 1024}, {256, 768}, {64, 1}, {97, 131}} {
		img, err := renderImage(context.Background(), seed, size[0], size[1])
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := encodeOpaquePNG(&buf, img); err != nil {
			t.Fatal(err)
		}
		assertIDATChecksum(t, buf.Bytes())
		got, err := png.Decode(&buf)
		if err != nil {
			t.Fatalf("%v: decode: %v", size, err)
		}
		for y := 0; y < size[1]; y++ {
			for x := 0; x < size[0]; x++ {
				r, g, b, _ := got.At(x, y).RGBA()
				p := img.NRGBAAt(x, y)
				if uint8(r>>8) != p.R || uint8(g>>8) != p.G || uint8(b>>8) != p.B {
					t.Fatalf("%v: pixel (%d,%d) decodes as %d,%d,%d, want %d,%d,%d", size, x, y, r>>8, g>>8, b>>8, p.R, p.G, p.B)
				}
			}
		}
	}
}

// assertIDATChecksum inflates the IDAT stream with compress/zlib, which checks the Adler-32.
func assertIDATChecksum(t *testing.T, pngData []byte) {
	t.Helper()
	var idat []byte
	for rest := pngData[8:]; len(rest) >= 12; {
		n := int(binary.BigEndian.Uint32(rest))
		if string(rest[4:8]) == "IDAT" {
			idat = append(idat, rest[8:8+n]...)
		}
		rest = rest[12+n:]
	}
	zr, err := zlib.NewReader(bytes.NewReader(idat))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, zr); err != nil {
		t.Fatalf("inflate IDAT: %v (a bad Adler-32 shows here)", err)
	}
}
