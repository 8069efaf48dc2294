package app

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
)

// NewSecret returns a new credential: prefix (which tells people and
// secret scanners what it is) followed by 32 random bytes in unpadded
// base64url. SCIM tokens, staff API keys, events keys and webhook secrets
// are made by it. It returns an error only when the system's random
// source fails.
func NewSecret(prefix string) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// HashSecret returns the SHA-256 of a secret: the only form in which
// tokens and keys are stored, and by which they are looked up, so that a
// lookup's time does not depend on how much of a guess was right.
func HashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}
