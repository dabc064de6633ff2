package ai

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"testing"
)

func decodePNG(t *testing.T, out *Output) image.Image {
	t.Helper()
	if out.ContentType != "image/png" {
		t.Fatalf("content type %q, want image/png", out.ContentType)
	}
	img, err := png.Decode(bytes.NewReader(out.Body))
	if err != nil {
		t.Fatalf("decode png: %v", err)
	}
	return img
}

func TestTextToImageSizes(t *testing.T) {
	s := NewService()
	cases := []struct {
		input      map[string]any
		wantW, wTH int
	}{
		{map[string]any{"prompt": "a lighthouse"}, 1024, 1024},
		{map[string]any{"prompt": "a lighthouse", "width": 256, "height": 256}, 256, 256},
		{map[string]any{"prompt": "a lighthouse", "width": 512, "height": 768}, 512, 768},
		{map[string]any{"prompt": "a lighthouse", "width": 2048, "height": 256}, 2048, 256},
	}
	for _, c := range cases {
		img := decodePNG(t, mustRun(t, s, sdxl, c.input))
		if got := img.Bounds().Size(); got.X != c.wantW || got.Y != c.wTH {
			t.Errorf("input %v: size %v, want %dx%d", c.input, got, c.wantW, c.wTH)
		}
	}
}

func TestTextToImageDeterministic(t *testing.T) {
	s := NewService()
	input := map[string]any{"prompt": "a red fox in snow", "seed": 42, "width": 256, "height": 320}
	first := mustRun(t, s, sdxl, input)
	second := mustRun(t, NewService(), sdxl, input)
	if !bytes.Equal(first.Body, second.Body) {
		t.Fatal("same model, prompt and seed gave different images")
	}
}

// differingPixels counts pixels whose colour differs between a and b.
func differingPixels(a, b image.Image) (diff, total int) {
	r := a.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			ar, ag, ab, _ := a.At(x, y).RGBA()
			br, bg, bb, _ := b.At(x, y).RGBA()
			if ar != br || ag != bg || ab != bb {
				diff++
			}
			total++
		}
	}
	return diff, total
}

func TestTextToImageVariesWithInputs(t *testing.T) {
	s := NewService()
	base := decodePNG(t, mustRun(t, s, sdxl, map[string]any{"prompt": "a red fox", "width": 256, "height": 256}))
	variants := map[string]map[string]any{
		"prompt": {"prompt": "a blue whale", "width": 256, "height": 256},
		"seed":   {"prompt": "a red fox", "seed": 7, "width": 256, "height": 256},
	}
	for name, input := range variants {
		other := decodePNG(t, mustRun(t, s, sdxl, input))
		diff, total := differingPixels(base, other)
		if diff*2 < total {
			t.Errorf("changing %s altered only %d of %d pixels, want a visibly different picture", name, diff, total)
		}
	}
	dream := decodePNG(t, mustRun(t, s, "@cf/lykon/dreamshaper-8-lcm", map[string]any{"prompt": "a red fox", "width": 256, "height": 256}))
	if diff, total := differingPixels(base, dream); diff*2 < total {
		t.Errorf("another model altered only %d of %d pixels", diff, total)
	}
}

func TestLightningReturnsJPEG(t *testing.T) {
	out := mustRun(t, NewService(), lightning, map[string]any{"prompt": "a castle", "width": 384, "height": 256})
	if out.ContentType != "image/jpeg" {
		t.Fatalf("content type %q, want image/jpeg", out.ContentType)
	}
	img, err := jpeg.Decode(bytes.NewReader(out.Body))
	if err != nil {
		t.Fatalf("decode jpeg: %v", err)
	}
	if got := img.Bounds().Size(); got != image.Pt(384, 256) {
		t.Fatalf("size %v, want 384x256", got)
	}
}

func TestTextToImageRespectsCancellation(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := NewService().Run(ctx, sdxl, []byte(`{"prompt":"x"}`))
	var aiErr *Error
	if !errors.As(err, &aiErr) || aiErr.Code != CodeAborted || aiErr.Status != 408 {
		t.Fatalf("Run with cancelled context: %v, want code %d status 408", err, CodeAborted)
	}
}

// BenchmarkTextToImage1024 renders a new picture every time (the seed changes, so the cache of
// recent pictures never answers); BenchmarkTextToImage1024Repeated is the cached case.
func BenchmarkTextToImage1024(b *testing.B) {
	s := NewService()
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		input := fmt.Appendf(nil, `{"prompt":"a lighthouse at dawn, watercolor","width":1024,"height":1024,"seed":%d}`, i)
		if _, err := s.Run(ctx, sdxl, input); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTextToImage1024Repeated(b *testing.B) {
	s := NewService()
	input := []byte(`{"prompt":"a lighthouse at dawn, watercolor","width":1024,"height":1024,"seed":42}`)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Run(ctx, sdxl, input); err != nil {
			b.Fatal(err)
		}
	}
}

// A tall picture computes its gradient only every few rows; that must stay invisible: within one
// level of the gradient computed for every row.
func TestSteppedGradientIsWithinOneLevel(t *testing.T) {
	for _, height := range []int{1024, 777, 2048} {
		stepped := newPicture(newImageSeed(sdxl, "a lighthouse", "", 1), 300, height)
		if stepped.gradientStep < 2 {
			t.Fatalf("height %d: gradient step %d, want the gradient held for several rows", height, stepped.gradientStep)
		}
		exact := *stepped
		exact.gradientStep = 1
		steppedPainter, exactPainter := stepped.newRowPainter(), exact.newRowPainter()
		got, want := make([]byte, 3*300), make([]byte, 3*300)
		for y := range height {
			steppedPainter.paintRow(got, y)
			exactPainter.paintRow(want, y)
			for i := range got {
				if d := int(got[i]) - int(want[i]); d < -1 || d > 1 {
					t.Fatalf("height %d: row %d byte %d is %d, the exact gradient gives %d", height, y, i, got[i], want[i])
				}
			}
		}
	}
}
