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

// generateImage draws the stand-in picture and encodes it.
func generateImage(ctx context.Context, seed imageSeed, width, height int, format imageFormat) ([]byte, string, error) {
	img, err := renderImage(ctx, seed, width, height)
	if err != nil {
		return nil, "", err
	}
	var buf bytes.Buffer
	buf.Grow(width * height / 2)
	if format == formatJPEG {
		// The picture is opaque, so its non-premultiplied pixels are also
		// valid premultiplied ones; image.RGBA takes the JPEG fast path.
		rgba := &image.RGBA{Pix: img.Pix, Stride: img.Stride, Rect: img.Rect}
		if err := jpeg.Encode(&buf, rgba, &jpeg.Options{Quality: 85}); err != nil {
			return nil, "", fmt.Errorf("encode jpeg: %w", err)
		}
		return buf.Bytes(), "image/jpeg", nil
	}
	if err := encodeOpaquePNG(&buf, img); err != nil {
		return nil, "", fmt.Errorf("encode png: %w", err)
	}
	return buf.Bytes(), "image/png", nil
}

// renderImage paints a four-corner gradient, a few discs and the seed's bits
// as a block pattern in the top-left corner. Everything is derived from the
// seed, so different prompts give visibly different pictures.
func renderImage(ctx context.Context, seed imageSeed, width, height int) (*image.NRGBA, error) {
	img := image.NewNRGBA(image.Rect(0, 0, width, height))
	corners := [4]rgb{}
	for i := range corners {
		corners[i] = seedColor(seed, i)
	}
	if err := paintGradient(ctx, img, corners); err != nil {
		return nil, err
	}
	paintDiscs(img, seed)
	paintFingerprint(img, seed)
	return img, nil
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

// paintGradient fills the image with a bilinear blend of the four corner
// colours (top-left, top-right, bottom-left, bottom-right) using 16.16 fixed
// point, writing straight into Pix. Bands of rows are painted at once, one
// per CPU.
func paintGradient(ctx context.Context, img *image.NRGBA, c [4]rgb) error {
	h := img.Rect.Dy()
	bands := min(runtime.GOMAXPROCS(0), max(h/64, 1))
	errs := make([]error, bands)
	var wg sync.WaitGroup
	for i := range bands {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = paintGradientRows(ctx, img, c, h*i/bands, h*(i+1)/bands)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func paintGradientRows(ctx context.Context, img *image.NRGBA, c [4]rgb, from, to int) error {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	for y := from; y < to; y++ {
		if y%128 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		left := lerp(c[0], c[2], y, h)
		right := lerp(c[1], c[3], y, h)
		row := img.Pix[y*img.Stride : y*img.Stride+4*w]
		fillRowGradient(row, left, right, w)
	}
	return nil
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

func fillRowGradient(row []byte, left, right [3]int32, w int) {
	den := int32(max(w-1, 1))
	var step [3]int32
	for ch := range step {
		step[ch] = (right[ch] - left[ch]) / den
	}
	cur := left
	for x := 0; x < w; x++ {
		px := row[4*x : 4*x+4 : 4*x+4]
		px[0] = uint8(cur[0] >> 16)
		px[1] = uint8(cur[1] >> 16)
		px[2] = uint8(cur[2] >> 16)
		px[3] = 255
		cur[0] += step[0]
		cur[1] += step[1]
		cur[2] += step[2]
	}
}

// paintDiscs draws three to six half-transparent discs whose centre, radius
// and colour come from the seed.
func paintDiscs(img *image.NRGBA, seed imageSeed) {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	side := min(w, h)
	count := 3 + int(seed[16]%4)
	for i := 0; i < count; i++ {
		b := seed[(17+3*i)%32:]
		cx := int(b[0]) * w / 256
		cy := int(b[1%len(b)]) * h / 256
		r := side/10 + int(b[2%len(b)])*side/(256*3)
		color := seedColor(seed, (i+1)%4)
		color = rgb{255 - color.r, 255 - color.g, 255 - color.b}
		fillDisc(img, cx, cy, r, color)
	}
}

// fillDisc averages colour into every pixel within r of (cx, cy), one row
// span at a time.
func fillDisc(img *image.NRGBA, cx, cy, r int, c rgb) {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	for y := max(cy-r, 0); y <= min(cy+r, h-1); y++ {
		dy := y - cy
		half := int(math.Sqrt(float64(r*r - dy*dy)))
		x0, x1 := max(cx-half, 0), min(cx+half, w-1)
		row := img.Pix[y*img.Stride:]
		for x := x0; x <= x1; x++ {
			px := row[4*x : 4*x+3 : 4*x+3]
			px[0] = uint8((uint16(px[0]) + uint16(c.r)) / 2)
			px[1] = uint8((uint16(px[1]) + uint16(c.g)) / 2)
			px[2] = uint8((uint16(px[2]) + uint16(c.b)) / 2)
		}
	}
}

// paintFingerprint draws the 256 seed bits as a 16x16 grid of black and
// white blocks on a white frame in the top-left corner.
func paintFingerprint(img *image.NRGBA, seed imageSeed) {
	block := max(min(img.Rect.Dx(), img.Rect.Dy())/96, 2)
	frame := block
	fillRect(img, 0, 0, 16*block+2*frame, 16*block+2*frame, rgb{255, 255, 255})
	for bit := 0; bit < 256; bit++ {
		if seed[bit/8]&(1<<(bit%8)) == 0 {
			continue
		}
		x := frame + (bit%16)*block
		y := frame + (bit/16)*block
		fillRect(img, x, y, x+block, y+block, rgb{0, 0, 0})
	}
}

func fillRect(img *image.NRGBA, x0, y0, x1, y1 int, c rgb) {
	x1, y1 = min(x1, img.Rect.Dx()), min(y1, img.Rect.Dy())
	for y := y0; y < y1; y++ {
		row := img.Pix[y*img.Stride:]
		for x := x0; x < x1; x++ {
			px := row[4*x : 4*x+3 : 4*x+3]
			px[0], px[1], px[2] = c.r, c.g, c.b
		}
	}
}
