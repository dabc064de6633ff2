package ai

import "sync"

// imageCacheSize is how many encoded pictures a model keeps. A handful is enough for what
// repeats in practice: smoke tests of a fleet all sending the same prompt.
const imageCacheSize = 8

// imageKey is everything a stand-in picture depends on.
type imageKey struct {
	seed          imageSeed
	width, height int
}

// imageCache keeps the last few encoded pictures. The stand-in is deterministic, so a repeated
// request gets the same bytes without painting and compressing a megapixel again; without it
// the local Cloudflare's CPU, not the tool under test, would dominate a fleet's smoke tests.
type imageCache struct {
	mu    sync.Mutex
	items map[imageKey]cachedImage
	order []imageKey // oldest first
}

type cachedImage struct {
	body        []byte // shared by every hit: callers only ever read it
	contentType string
}

func (c *imageCache) get(k imageKey) (cachedImage, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	img, ok := c.items[k]
	return img, ok
}

func (c *imageCache) put(k imageKey, img cachedImage) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.items == nil {
		c.items = make(map[imageKey]cachedImage, imageCacheSize)
	}
	if _, ok := c.items[k]; ok {
		return
	}
	if len(c.order) == imageCacheSize {
		delete(c.items, c.order[0])
		c.order = c.order[1:]
	}
	c.items[k] = img
	c.order = append(c.order, k)
}
