package provision

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image/png"
)

const pngSignature = "\x89PNG\r\n\x1a\n"

// checkPNG checks that body is a whole, intact PNG: the signature, a readable IHDR with a
// non-empty size, image data, every chunk's CRC, and IEND at the very end. It does not inflate
// the pixels: a smoke test must catch a truncated or garbled picture, and a 1024x1024 decode
// would cost more than the rest of the smoke test together.
func checkPNG(body []byte) error {
	if !bytes.HasPrefix(body, []byte(pngSignature)) {
		return errors.New("no PNG signature")
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(body))
	if err != nil {
		return err
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return fmt.Errorf("empty image %dx%d", cfg.Width, cfg.Height)
	}
	sawData := false
	for rest := body[len(pngSignature):]; ; {
		if len(rest) < 12 {
			return errors.New("truncated: it ends inside a chunk, before IEND")
		}
		n := binary.BigEndian.Uint32(rest)
		if uint64(n) > uint64(len(rest)-12) {
			return fmt.Errorf("truncated: a %q chunk claims %d bytes, %d are left", rest[4:8], n, len(rest)-12)
		}
		kind, data := string(rest[4:8]), rest[8:8+n]
		if crc32.ChecksumIEEE(rest[4:8+n]) != binary.BigEndian.Uint32(rest[8+n:]) {
			return fmt.Errorf("chunk %q is corrupt (CRC mismatch)", kind)
		}
		rest = rest[12+n:]
		switch kind {
		case "IDAT":
			sawData = sawData || len(data) > 0
		case "IEND":
			if !sawData {
				return errors.New("no image data (IDAT)")
			}
			if len(rest) > 0 {
				return fmt.Errorf("%d bytes after IEND", len(rest))
			}
			return nil
		}
	}
}

// checkJPEG checks that body looks like a whole JPEG: the SOI marker and a frame marker at the
// start and the EOI marker at the very end, so a cut-off picture is caught without decoding it.
func checkJPEG(body []byte) error {
	if len(body) < 4 || body[0] != 0xFF || body[1] != 0xD8 || body[2] != 0xFF {
		return errors.New("no JPEG start-of-image marker")
	}
	if body[len(body)-2] != 0xFF || body[len(body)-1] != 0xD9 {
		return errors.New("no JPEG end-of-image marker at the end (truncated?)")
	}
	return nil
}
