package ai

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"io"
)

// encodeOpaquePNG writes img as an 8-bit RGB PNG. Unlike image/png, which
// tries all five row filters on every row, it always uses the Up filter:
// the stand-in pictures are smooth vertical gradients, so Up compresses them
// well, and skipping the filter search halves the encoding time of a
// 1024x1024 image. The alpha channel is dropped; the pictures are opaque.
func encodeOpaquePNG(w io.Writer, img *image.NRGBA) error {
	width, height := img.Rect.Dx(), img.Rect.Dy()
	var header [13]byte
	binary.BigEndian.PutUint32(header[0:], uint32(width))
	binary.BigEndian.PutUint32(header[4:], uint32(height))
	header[8] = 8 // bit depth
	header[9] = 2 // colour type: truecolour
	// compression, filter and interlace methods are all 0.

	var idat bytes.Buffer
	idat.Grow(width * height / 2)
	zw, err := zlib.NewWriterLevel(&idat, zlib.BestSpeed)
	if err != nil {
		return fmt.Errorf("png: zlib writer: %w", err)
	}
	prev := make([]byte, 3*width)
	cur := make([]byte, 3*width)
	line := make([]byte, 1+3*width)
	line[0] = 2 // filter type Up
	for y := 0; y < height; y++ {
		pix := img.Pix[y*img.Stride:]
		for x := 0; x < width; x++ {
			copy(cur[3*x:3*x+3], pix[4*x:4*x+3])
		}
		for i, v := range cur {
			line[1+i] = v - prev[i]
		}
		if _, err := zw.Write(line); err != nil {
			return fmt.Errorf("png: compress row %d: %w", y, err)
		}
		prev, cur = cur, prev
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("png: finish compression: %w", err)
	}

	if _, err := io.WriteString(w, "\x89PNG\r\n\x1a\n"); err != nil {
		return fmt.Errorf("png: write signature: %w", err)
	}
	for _, c := range []struct {
		kind string
		data []byte
	}{{"IHDR", header[:]}, {"IDAT", idat.Bytes()}, {"IEND", nil}} {
		if err := writeChunk(w, c.kind, c.data); err != nil {
			return err
		}
	}
	return nil
}

func writeChunk(w io.Writer, kind string, data []byte) error {
	var head [8]byte
	binary.BigEndian.PutUint32(head[:4], uint32(len(data)))
	copy(head[4:], kind)
	crc := crc32.NewIEEE()
	crc.Write(head[4:])
	crc.Write(data)
	var tail [4]byte
	binary.BigEndian.PutUint32(tail[:], crc.Sum32())
	for _, part := range [][]byte{head[:], data, tail[:]} {
		if _, err := w.Write(part); err != nil {
			return fmt.Errorf("png: write %s chunk: %w", kind, err)
		}
	}
	return nil
}
