package provision

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"strings"
	"testing"
)

func TestCheckPNG(t *testing.T) {
	img := image.NewNRGBA(image.Rect(0, 0, 64, 32))
	for i := range img.Pix {
		img.Pix[i] = byte(i * 31)
	}
	img.Set(3, 3, color.White)
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	if err := checkPNG(good); err != nil {
		t.Fatalf("a PNG from image/png: %v", err)
	}
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0x40 // inside the image data
	for name, tc := range map[string]struct {
		body []byte
		want string
	}{
		"not a PNG":      {[]byte(`{"error":"nope"}`), "signature"},
		"truncated":      {good[:len(good)-20], "truncated"},
		"one bit off":    {flipped, "CRC mismatch"},
		"trailing bytes": {append(bytes.Clone(good), "junk"...), "after IEND"},
		"signature only": {[]byte(pngSignature), "EOF"},
	} {
		err := checkPNG(tc.body)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one mentioning %q", name, err, tc.want)
		}
	}
}
