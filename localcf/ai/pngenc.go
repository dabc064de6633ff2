package ai

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/binary"
	"fmt"
	"hash/adler32"
	"hash/crc32"
	"io"
)

// encodeOpaquePNG writes pic as an 8-bit RGB PNG. Unlike image/png, which
// tries all five row filters on every row, it always uses the Up filter:
// the stand-in pictures are smooth vertical gradients, so Up compresses them
// well, and skipping the filter search halves the encoding time of a
// 1024x1024 image.
//
// The rows are painted and compressed in bands, one per CPU, at the same time
// (as pigz does): each band paints a row into a reused buffer, filters it and
// deflates it, so the picture never exists in memory as a whole. Each band is
// its own deflate stream, all but the last ending in a sync flush instead of a
// final block, so their concatenation is one valid stream. A band cannot
// refer back into the one before, which costs a few bytes and saves half the
// time on two cores.
func encodeOpaquePNG(ctx context.Context, w io.Writer, pic *picture) error {
	var header [13]byte
	binary.BigEndian.PutUint32(header[0:], uint32(pic.width))
	binary.BigEndian.PutUint32(header[4:], uint32(pic.height))
	header[8] = 8 // bit depth
	header[9] = 2 // colour type: truecolour
	// compression, filter and interlace methods are all 0.

	rows := rowBands(pic.height)
	bands := make([]compressedBand, len(rows))
	eachBand(rows, func(i int, band rowBand) { bands[i] = compressBand(ctx, pic, band, i == len(bands)-1) })

	idat := bytes.NewBuffer(make([]byte, 0, pic.width*pic.height/2))
	idat.Write([]byte{0x78, 0x01}) // zlib header: deflate, 32 KiB window, fastest level
	checksum := uint32(1)          // Adler-32 of nothing
	for _, b := range bands {
		if b.err != nil {
			return b.err
		}
		idat.Write(b.data)
		checksum = adler32Combine(checksum, b.adler, b.rawLen)
	}
	binary.Write(idat, binary.BigEndian, checksum)

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

// compressedBand is a band of rows painted, filtered and deflated: the raw
// deflate bytes, and the Adler-32 and length of the filtered bytes they hold.
type compressedBand struct {
	data   []byte
	adler  uint32
	rawLen int
	err    error
}

func compressBand(ctx context.Context, pic *picture, band rowBand, last bool) compressedBand {
	width := pic.width
	var out bytes.Buffer
	out.Grow(width * (band.to - band.from) / 2)
	fw, err := flate.NewWriter(&out, flate.BestSpeed)
	if err != nil {
		return compressedBand{err: fmt.Errorf("png: deflate writer: %w", err)}
	}
	painter := pic.newRowPainter()
	sum := adler32.New()
	prev := make([]byte, 3*width)
	cur := make([]byte, 3*width)
	if band.from > 0 { // the Up filter of the band's first row looks at the row above it
		painter.paintRow(prev, band.from-1)
	}
	line := make([]byte, 1+3*width)
	line[0] = 2 // filter type Up
	for y := band.from; y < band.to; y++ {
		if y%cancelCheckRows == 0 {
			if err := ctx.Err(); err != nil {
				return compressedBand{err: err}
			}
		}
		painter.paintRow(cur, y)
		upFilter(line[1:], cur, prev)
		sum.Write(line)
		if _, err := fw.Write(line); err != nil {
			return compressedBand{err: fmt.Errorf("png: compress row %d: %w", y, err)}
		}
		prev, cur = cur, prev
	}
	if last {
		err = fw.Close()
	} else {
		err = fw.Flush()
	}
	if err != nil {
		return compressedBand{err: fmt.Errorf("png: finish rows %d-%d: %w", band.from, band.to, err)}
	}
	return compressedBand{data: out.Bytes(), adler: sum.Sum32(), rawLen: (band.to - band.from) * len(line)}
}

// upFilter writes the PNG Up filter of row cur (each byte minus the one
// above it in prev, modulo 256) into dst, eight bytes at a time.
func upFilter(dst, cur, prev []byte) {
	n := len(cur)
	prev, dst = prev[:n], dst[:n]
	i := 0
	for ; i+8 <= n; i += 8 {
		a := binary.LittleEndian.Uint64(cur[i:])
		b := binary.LittleEndian.Uint64(prev[i:])
		binary.LittleEndian.PutUint64(dst[i:], subBytes(a, b))
	}
	for ; i < n; i++ {
		dst[i] = cur[i] - prev[i]
	}
}

// subBytes subtracts each byte of b from the same byte of a, modulo 256,
// with no borrow between bytes: the top bit of each byte is set in a and
// cleared in b so that no byte borrows from the next, and then put right.
func subBytes(a, b uint64) uint64 {
	const high = 0x8080808080808080
	return ((a | high) - (b &^ high)) ^ ((a ^ ^b) & high)
}

// adler32Combine is the Adler-32 of a followed by b, from the checksum of a,
// the checksum of b and b's length. With A = 1 + sum of the bytes and B = the
// sum of the running A values: A = A1 + A2 - 1 and B = B1 + B2 + len2*(A1-1),
// all modulo 65521.
func adler32Combine(a, b uint32, lenB int) uint32 {
	const mod = 65521
	a1, b1 := uint64(a&0xffff), uint64(a>>16)
	a2, b2 := uint64(b&0xffff), uint64(b>>16)
	sumA := (a1 + a2 + mod - 1) % mod
	sumB := (b1 + b2 + (uint64(lenB)%mod)*((a1+mod-1)%mod)) % mod
	return uint32(sumB<<16 | sumA)
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
