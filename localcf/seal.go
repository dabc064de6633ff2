package localcf

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// sealKeyFile holds the AES-256 key that seals tokens and secret values in the state dir, so
// that no file the server writes holds a credential in plain text.
const sealKeyFile = "seal.key"

// sealer encrypts small values with AES-GCM under one key.
type sealer struct {
	aead cipher.AEAD
}

func newSealer(key []byte) (*sealer, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("seal key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("seal key: %w", err)
	}
	return &sealer{aead: aead}, nil
}

// loadOrCreateSealKey reads the key file in dir, creating it atomically when absent.
func loadOrCreateSealKey(dir string) ([]byte, error) {
	path := filepath.Join(dir, sealKeyFile)
	key, err := os.ReadFile(path)
	if err == nil {
		if len(key) != 32 {
			return nil, fmt.Errorf("seal key %s: %d bytes, want 32 (delete the state dir to start over)", path, len(key))
		}
		return key, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read seal key: %w", err)
	}
	key = make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("generate seal key: %w", err)
	}
	if err := writeFileAtomic(path, key, 0o600); err != nil {
		return nil, fmt.Errorf("write seal key: %w", err)
	}
	return key, nil
}

func randomKey() []byte {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err)) // the platform is unusable
	}
	return key
}

func (s *sealer) seal(plain []byte) string {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err))
	}
	return base64.RawStdEncoding.EncodeToString(s.aead.Seal(nonce, nonce, plain, nil))
}

func (s *sealer) open(sealed string) ([]byte, error) {
	data, err := base64.RawStdEncoding.DecodeString(sealed)
	if err != nil {
		return nil, fmt.Errorf("unseal: %w", err)
	}
	n := s.aead.NonceSize()
	if len(data) < n {
		return nil, errors.New("unseal: value too short")
	}
	plain, err := s.aead.Open(nil, data[:n], data[n:], nil)
	if err != nil {
		return nil, fmt.Errorf("unseal (wrong seal.key for this state?): %w", err)
	}
	return plain, nil
}

// fingerprint identifies a credential in logs without revealing it.
func fingerprint(secret string) string {
	if secret == "" {
		return ""
	}
	sum := sha256.Sum256([]byte("localcf-fp:" + secret))
	return "fp_" + hex.EncodeToString(sum[:6])
}

// tokenHash is the lookup key for a token; a one-way hash, so safe to keep in state.
func tokenHash(token string) string {
	sum := sha256.Sum256([]byte("localcf-token:" + token))
	return hex.EncodeToString(sum[:])
}
