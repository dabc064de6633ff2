package ai

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"fmt"
	"hash/adler32"
	"hash/crc32"
	"image"
	"io"
	"runtime"
	"sync"
)

// encodeOpaquePNG writes img as an 8-bit RGB PNG. Unlike image/png, which
// tries all five row filters on every row, it always uses the Up filter:
// the stand-in pictures are smooth vertical gradients, so Up compresses them
// well, and skipping the filter search halves the encoding time of a
// 1024x1024 image. The alpha channel is dropped; the pictures are opaque.
//
// The rows are compressed in bands, one per CPU, at the same time (as pigz
// does): each band is its own deflate stream, all but the last ending in a
// sync flush instead of a final block, so their concatenation is one valid
// stream. A band cannot refer back into the one before, which costs a few
// bytes and saves half the time on two cores.
func encodeOpaquePNG(w io.Writer, img *image.NRGBA) error {
	width, height := img.Rect.Dx(), img.Rect.Dy()
	var header [13]byte
	binary.BigEndian.PutUint32(header[0:], uint32(width))
	binary.BigEndian.PutUint32(header[4:], uint32(height))
	header[8] = 8 // bit depth
	header[9] = 2 // colour type: truecolour
	// compression, filter and interlace methods are all 0.

	bands := make([]compressedBand, min(runtime.GOMAXPROCS(0), max(height/64, 1)))
	var wg sync.WaitGroup
	for i := range bands {
		wg.Add(1)
		go func() {
			defer wg.Done()
			from, to := height*i/len(bands), height*(i+1)/len(bands)
			bands[i] = compressBand(img, from, to, i == len(bands)-1)
		}()
	}
	wg.Wait()

	idat := bytes.NewBuffer(make([]byte, 0, width*height/2))
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

// compressedBand is rows [from, to) filtered and deflated: the raw deflate
// bytes, and the Adler-32 and length of the filtered bytes they hold.
type compressedBand struct {
	data   []byte
	adler  uint32
	rawLen int
	err    error
}

func compressBand(img *image.NRGBA, from, to int, last bool) compressedBand {
	width := img.Rect.Dx()
	var out bytes.Buffer
	out.Grow(width * (to - from) / 2)
	fw, err := flate.NewWriter(&out, flate.BestSpeed)
	if err != nil {
		return compressedBand{err: fmt.Errorf("png: deflate writer: %w", err)}
	}
	sum := adler32.New()
	prev := make([]byte, 3*width)
	cur := make([]byte, 3*width)
	if from > 0 { // the Up filter of the band's first row looks at the row above it
		rgbRow(prev, img, from-1)
	}
	line := make([]byte, 1+3*width)
	line[0] = 2 // filter type Up
	for y := from; y < to; y++ {
		rgbRow(cur, img, y)
		for i, v := range cur {
			line[1+i] = v - prev[i]
		}
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
		return compressedBand{err: fmt.Errorf("png: finish rows %d-%d: %w", from, to, err)}
	}
	return compressedBand{data: out.Bytes(), adler: sum.Sum32(), rawLen: (to - from) * len(line)}
}

// rgbRow copies row y of img into dst without its alpha channel.
func rgbRow(dst []byte, img *image.NRGBA, y int) {
	pix := img.Pix[y*img.Stride:]
	for x := 0; x < len(dst)/3; x++ {
		copy(dst[3*x:3*x+3], pix[4*x:4*x+3])
	}
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
