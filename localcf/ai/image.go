package ai

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"math"
	"runtime"
	"sync"
)

// imageSeed is the hash every pixel of a stand-in picture is derived from.
type imageSeed [32]byte

func newImageSeed(model, prompt, negative string, seed int64) imageSeed {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%d", model, prompt, negative, seed)
	var s imageSeed
	copy(s[:], h.Sum(nil))
	return s
}

type rgb struct{ r, g, b uint8 }

// generateImage draws the stand-in picture and encodes it. The PNG path paints
// each row straight into the encoder's row buffer; only JPEG needs the whole
// picture in memory at once.
func generateImage(ctx context.Context, seed imageSeed, width, height int, format imageFormat) ([]byte, string, error) {
	var buf bytes.Buffer
	buf.Grow(width * height / 2)
	if format == formatJPEG {
		if err := encodeJPEG(ctx, &buf, seed, width, height); err != nil {
			return nil, "", err
		}
		return buf.Bytes(), "image/jpeg", nil
	}
	if err := encodeOpaquePNG(ctx, &buf, newPicture(seed, width, height)); err != nil {
		return nil, "", fmt.Errorf("encode png: %w", err)
	}
	return buf.Bytes(), "image/png", nil
}

func encodeJPEG(ctx context.Context, w io.Writer, seed imageSeed, width, height int) error {
	img, err := renderImage(ctx, seed, width, height)
	if err != nil {
		return err
	}
	// The picture is opaque, so its non-premultiplied pixels are also
	// valid premultiplied ones; image.RGBA takes the JPEG fast path.
	rgba := &image.RGBA{Pix: img.Pix, Stride: img.Stride, Rect: img.Rect}
	if err := jpeg.Encode(w, rgba, &jpeg.Options{Quality: 85}); err != nil {
		return fmt.Errorf("encode jpeg: %w", err)
	}
	return nil
}

// renderImage paints the whole picture into memory (for the JPEG encoder and
// the tests). It uses the same row painter as the PNG encoder, so both agree
// pixel for pixel. Bands of rows are painted at once, one per CPU.
func renderImage(ctx context.Context, seed imageSeed, width, height int) (*image.NRGBA, error) {
	img := image.NewNRGBA(image.Rect(0, 0, width, height))
	pic := newPicture(seed, width, height)
	bands := rowBands(height)
	errs := make([]error, len(bands))
	eachBand(bands, func(i int, band rowBand) { errs[i] = renderRows(ctx, img, pic, band) })
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return img, nil
}

// rowBand is the rows [from, to) one goroutine paints.
type rowBand struct{ from, to int }

// rowBands splits height rows into one band per CPU, none under 64 rows:
// smaller bands would cost more in goroutines (and deflate streams) than
// they save.
func rowBands(height int) []rowBand {
	bands := make([]rowBand, min(runtime.GOMAXPROCS(0), max(height/64, 1)))
	for i := range bands {
		bands[i] = rowBand{height * i / len(bands), height * (i + 1) / len(bands)}
	}
	return bands
}

// eachBand runs do for every band at once, one goroutine each, and returns when all are done.
func eachBand(bands []rowBand, do func(i int, band rowBand)) {
	var wg sync.WaitGroup
	for i, band := range bands {
		wg.Go(func() { do(i, band) })
	}
	wg.Wait()
}

// cancelCheckRows is how often (in rows) painters look at the context: often
// enough to stop a megapixel picture within a millisecond, rarely enough to
// cost nothing.
const cancelCheckRows = 128

func renderRows(ctx context.Context, img *image.NRGBA, pic *picture, band rowBand) error {
	painter := pic.newRowPainter()
	row := make([]byte, 3*pic.width)
	for y := band.from; y < band.to; y++ {
		if y%cancelCheckRows == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		painter.paintRow(row, y)
		pix := img.Pix[y*img.Stride : y*img.Stride+4*pic.width]
		for x := 0; x < pic.width; x++ {
			copy(pix[4*x:4*x+3], row[3*x:3*x+3])
			pix[4*x+3] = 255
		}
	}
	return nil
}

// picture is a stand-in picture: a four-corner gradient, a few discs and the
// seed's bits as a block pattern in the top-left corner. Everything is
// derived from the seed, so different prompts give visibly different
// pictures. Its geometry and colours are worked out once here, so that
// painting a row is integer arithmetic only.
type picture struct {
	width, height int
	corners       [4]rgb // top-left, top-right, bottom-left, bottom-right
	gradientStep  int    // rows the gradient stays the same for
	discs         []disc // painted in order, each over the ones before
	seedBits      seedBlocks
}

// disc is a half-transparent disc: every pixel within r of (cx, cy) is
// averaged with colour.
type disc struct {
	cx, cy, r int
	colour    rgb
}

// seedBlocks is the 256 seed bits as a 16x16 grid of black (set) and white
// blocks on a white frame, block pixels a side.
type seedBlocks struct {
	bits         imageSeed
	block, frame int
}

func newPicture(seed imageSeed, width, height int) *picture {
	// A tall picture's gradient changes by less than one level per row, so
	// computing it only every height/256 rows (at most one level off) looks
	// the same, and leaves the rows in between equal to the one above them
	// wherever no disc edge crosses: the PNG's Up filter turns those into
	// zeros, which deflate compresses twice as small and much faster.
	pic := &picture{width: width, height: height, gradientStep: max(height/256, 1)}
	for i := range pic.corners {
		pic.corners[i] = seedColor(seed, i)
	}
	pic.discs = seedDiscs(seed, width, height)
	block := max(min(width, height)/96, 2)
	pic.seedBits = seedBlocks{bits: seed, block: block, frame: block}
	return pic
}

// seedDiscs picks three to six discs whose centre, radius and colour come
// from the seed.
func seedDiscs(seed imageSeed, width, height int) []disc {
	side := min(width, height)
	discs := make([]disc, 3+int(seed[16]%4))
	for i := range discs {
		b := seed[(17+3*i)%32:]
		c := seedColor(seed, (i+1)%4)
		discs[i] = disc{
			cx:     int(b[0]) * width / 256,
			cy:     int(b[1%len(b)]) * height / 256,
			r:      side/10 + int(b[2%len(b)])*side/(256*3),
			colour: rgb{255 - c.r, 255 - c.g, 255 - c.b},
		}
	}
	return discs
}

// rowPainter paints rows of a picture for one goroutine. It keeps the last
// gradient row it computed, since the gradient changes only every
// gradientStep rows.
type rowPainter struct {
	pic       *picture
	gradient  []byte
	gradientY int // the row gradient was computed for; -1 before the first
}

func (p *picture) newRowPainter() *rowPainter {
	return &rowPainter{pic: p, gradient: make([]byte, 3*p.width), gradientY: -1}
}

// paintRow paints row y into row, 3 bytes (R, G, B) a pixel: the gradient,
// then the discs crossing it, then the seed-bit blocks if the row is in them.
func (rp *rowPainter) paintRow(row []byte, y int) {
	p := rp.pic
	row = row[:3*p.width]
	if gy := y - y%p.gradientStep; gy != rp.gradientY {
		p.paintGradientRow(rp.gradient, gy)
		rp.gradientY = gy
	}
	copy(row, rp.gradient)
	for _, d := range p.discs {
		if x0, x1, ok := d.span(y, p.width); ok {
			blendSpan(row[3*x0:3*x1], d.colour)
		}
	}
	p.seedBits.paintRow(row, y)
}

// seedColor picks a saturated colour from seed bytes so palettes differ
// strongly between seeds.
func seedColor(seed imageSeed, i int) rgb {
	hue := float64(binary.BigEndian.Uint16(seed[2*i:])) / 65536 * 360
	sat := 0.55 + float64(seed[8+i])/255*0.45
	val := 0.45 + float64(seed[12+i])/255*0.55
	return hsv(hue, sat, val)
}

func hsv(h, s, v float64) rgb {
	c := v * s
	x := c * (1 - math.Abs(math.Mod(h/60, 2)-1))
	m := v - c
	var r, g, b float64
	switch {
	case h < 60:
		r, g, b = c, x, 0
	case h < 120:
		r, g, b = x, c, 0
	case h < 180:
		r, g, b = 0, c, x
	case h < 240:
		r, g, b = 0, x, c
	case h < 300:
		r, g, b = x, 0, c
	default:
		r, g, b = c, 0, x
	}
	to8 := func(f float64) uint8 { return uint8(math.Round((f + m) * 255)) }
	return rgb{to8(r), to8(g), to8(b)}
}

// paintGradientRow fills row y with the bilinear blend of the four corner
// colours, in 16.16 fixed point.
func (p *picture) paintGradientRow(row []byte, y int) {
	c := p.corners
	left := lerp(c[0], c[2], y, p.height)
	right := lerp(c[1], c[3], y, p.height)
	fillRowGradient(row, left, right, p.width)
}

// lerp returns a+(b-a)*i/(n-1) per channel in 16.16 fixed point.
func lerp(a, b rgb, i, n int) [3]int32 {
	den := int32(max(n-1, 1))
	t := int32(i)
	mix := func(p, q uint8) int32 {
		return int32(p)<<16 + (int32(q)-int32(p))<<16/den*t
	}
	return [3]int32{mix(a.r, b.r), mix(a.g, b.g), mix(a.b, b.b)}
}

// fillRowGradient steps from left to right across the w pixels of row (3
// bytes a pixel) in 16.16 fixed point.
func fillRowGradient(row []byte, left, right [3]int32, w int) {
	den := int32(max(w-1, 1))
	var step [3]int32
	for ch := range step {
		step[ch] = (right[ch] - left[ch]) / den
	}
	cur := left
	for i := 0; i+2 < len(row); i += 3 {
		px := row[i : i+3 : i+3]
		px[0] = uint8(cur[0] >> 16)
		px[1] = uint8(cur[1] >> 16)
		px[2] = uint8(cur[2] >> 16)
		cur[0] += step[0]
		cur[1] += step[1]
		cur[2] += step[2]
	}
}

// span is the pixels [x0, x1) of row y inside the disc, clipped to a row of
// width pixels; ok is false if the disc misses the row.
func (d disc) span(y, width int) (x0, x1 int, ok bool) {
	dy := y - d.cy
	if dy < -d.r || dy > d.r {
		return 0, 0, false
	}
	// The square root of an exact integer below 2^52 is exact, so this is
	// the integer square root.
	half := int(math.Sqrt(float64(d.r*d.r - dy*dy)))
	x0, x1 = max(d.cx-half, 0), min(d.cx+half+1, width)
	return x0, x1, x0 < x1
}

// blendSpan averages c into every pixel of span (3 bytes a pixel), rounding
// down. Eight pixels (24 bytes, three words) are averaged at a time: the
// colour repeats every three words.
func blendSpan(span []byte, c rgb) {
	var pattern [24]byte
	for i := 0; i < len(pattern); i += 3 {
		pattern[i], pattern[i+1], pattern[i+2] = c.r, c.g, c.b
	}
	var words [3]uint64
	for w := range words {
		words[w] = binary.LittleEndian.Uint64(pattern[8*w:])
	}
	i := 0
	for ; i+24 <= len(span); i += 24 {
		chunk := span[i : i+24 : i+24]
		for w, colour := range words {
			px := binary.LittleEndian.Uint64(chunk[8*w:])
			binary.LittleEndian.PutUint64(chunk[8*w:], averageBytes(px, colour))
		}
	}
	for ; i+2 < len(span); i += 3 {
		px := span[i : i+3 : i+3]
		px[0] = uint8((uint16(px[0]) + uint16(c.r)) / 2)
		px[1] = uint8((uint16(px[1]) + uint16(c.g)) / 2)
		px[2] = uint8((uint16(px[2]) + uint16(c.b)) / 2)
	}
}

// averageBytes is, for each byte, (a+b)/2 rounded down: the bits both have,
// plus half of the bits only one has (the shift's carry into the next byte
// is masked off).
func averageBytes(a, b uint64) uint64 {
	return (a & b) + ((a ^ b) >> 1 & 0x7f7f7f7f7f7f7f7f)
}

// paintRow paints the blocks' part of row y (3 bytes a pixel), if any.
func (f seedBlocks) paintRow(row []byte, y int) {
	side := 16*f.block + 2*f.frame
	if y >= side {
		return
	}
	fillSpan(row, 0, side, rgb{255, 255, 255})
	gridRow := (y - f.frame) / f.block
	if y < f.frame || gridRow >= 16 {
		return
	}
	for col := range 16 {
		bit := 16*gridRow + col
		if f.bits[bit/8]&(1<<(bit%8)) != 0 {
			x := f.frame + col*f.block
			fillSpan(row, x, x+f.block, rgb{0, 0, 0})
		}
	}
}

// fillSpan sets pixels [x0, x1) of row (3 bytes a pixel) to c, clipped to the row.
func fillSpan(row []byte, x0, x1 int, c rgb) {
	x1 = min(x1, len(row)/3)
	for x := x0; x < x1; x++ {
		px := row[3*x : 3*x+3 : 3*x+3]
		px[0], px[1], px[2] = c.r, c.g, c.b
	}
}
