package ai

import (
	"bytes"
	"testing"
)

func TestImageCacheKeepsTheNewestPictures(t *testing.T) {
	var c imageCache
	key := func(i int) imageKey { return imageKey{seed: imageSeed{byte(i)}, width: 256, height: 256} }
	for i := range imageCacheSize + 1 {
		c.put(key(i), cachedImage{body: []byte{byte(i)}, contentType: "image/png"})
	}
	if _, ok := c.get(key(0)); ok {
		t.Error("the oldest picture is still cached after the cache filled up")
	}
	for i := 1; i <= imageCacheSize; i++ {
		img, ok := c.get(key(i))
		if !ok || !bytes.Equal(img.body, []byte{byte(i)}) {
			t.Errorf("picture %d: got %v, %v; want it cached", i, img.body, ok)
		}
	}
	if len(c.items) != imageCacheSize || len(c.order) != imageCacheSize {
		t.Errorf("cache holds %d items (%d in order), want %d", len(c.items), len(c.order), imageCacheSize)
	}
	if _, ok := c.get(imageKey{seed: key(3).seed, width: 512, height: 256}); ok {
		t.Error("a different size hit the cache")
	}
}
