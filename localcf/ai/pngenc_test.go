package ai

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/binary"
	"hash/adler32"
	"image"
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

// The banded encoder paints its own rows; the PNG it gives must be read back by a strict decoder
// (zlib checksum included) as exactly renderImage's pixels, which the JPEG path encodes: one
// band (heights under 64), odd sizes, a picture narrower than the seed-bit blocks, many seeds.
func TestBandedPNGDecodesExactly(t *testing.T) {
	sizes := [][2]int{{1024, 1024}, {256, 768}, {64, 1}, {97, 131}, {300, 63}, {13, 200}, {1, 1}}
	for i, size := range sizes {
		for _, prompt := range []string{"a lighthouse", "a red fox", "an empty room"} {
			seed := newImageSeed("m", prompt, "", int64(i))
			want, err := renderImage(context.Background(), seed, size[0], size[1])
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := encodeOpaquePNG(context.Background(), &buf, newPicture(seed, size[0], size[1])); err != nil {
				t.Fatal(err)
			}
			assertIDATChecksum(t, buf.Bytes())
			got, err := png.Decode(&buf)
			if err != nil {
				t.Fatalf("%v %q: decode: %v", size, prompt, err)
			}
			assertSamePixels(t, got, want)
		}
	}
}

func assertSamePixels(t *testing.T, got image.Image, want *image.NRGBA) {
	t.Helper()
	if got.Bounds() != want.Bounds() {
		t.Fatalf("bounds %v, want %v", got.Bounds(), want.Bounds())
	}
	for y := 0; y < want.Rect.Dy(); y++ {
		for x := 0; x < want.Rect.Dx(); x++ {
			r, g, b, a := got.At(x, y).RGBA()
			p := want.NRGBAAt(x, y)
			if uint8(r>>8) != p.R || uint8(g>>8) != p.G || uint8(b>>8) != p.B || a != 0xffff {
				t.Fatalf("%v: pixel (%d,%d) decodes as %d,%d,%d,%d, want %d,%d,%d,255",
					want.Rect.Size(), x, y, r>>8, g>>8, b>>8, a>>8, p.R, p.G, p.B)
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

// subBytes and averageBytes work on eight bytes at once; each byte must come out as the byte-wise
// operation would give it, whatever its neighbours (borrows and carries must not cross bytes).
func TestWordWiseByteArithmetic(t *testing.T) {
	values := []byte{0, 1, 2, 0x7f, 0x80, 0x81, 0xfe, 0xff}
	for _, x := range values {
		for _, y := range values {
			for _, neighbour := range values {
				a := binary.LittleEndian.Uint64([]byte{x, neighbour, x, y, neighbour, 0, 0xff, x})
				b := binary.LittleEndian.Uint64([]byte{y, y, neighbour, x, neighbour, 0xff, 0, y})
				var as, bs, diff, avg [8]byte
				binary.LittleEndian.PutUint64(as[:], a)
				binary.LittleEndian.PutUint64(bs[:], b)
				binary.LittleEndian.PutUint64(diff[:], subBytes(a, b))
				binary.LittleEndian.PutUint64(avg[:], averageBytes(a, b))
				for i := range as {
					if want := as[i] - bs[i]; diff[i] != want {
						t.Fatalf("subBytes(%x, %x) byte %d = %d, want %d", a, b, i, diff[i], want)
					}
					if want := uint8((uint16(as[i]) + uint16(bs[i])) / 2); avg[i] != want {
						t.Fatalf("averageBytes(%x, %x) byte %d = %d, want %d", a, b, i, avg[i], want)
					}
				}
			}
		}
	}
}
