package credential

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/bulkhead-dev/bulkhead/app/audit"
	"github.com/bulkhead-dev/bulkhead/app/store"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
)

// Signing algorithms a JWT issuer may be registered with. Each issuer has
// exactly one, and a JWT signed with any other is refused, so that a public
// key can never be used as an HMAC secret.
const (
	AlgHS256 = "HS256"
	AlgRS256 = "RS256"
	AlgES256 = "ES256"
)

// minHMACSecret is the shortest HS256 secret accepted: as long as the hash
// output, as RFC 7518 §3.2 requires.
const minHMACSecret = 32

// Issuer is a JWT issuer a tenant trusts, as listed: never its key material.
type Issuer struct {
	ID         uuid.UUID  `db:"id" json:"issuer_id"`
	TenantID   string     `db:"tenant_id" json:"tenant_id"`
	Issuer     string     `db:"issuer" json:"issuer"`
	Audience   string     `db:"audience" json:"audience,omitempty"` // "" means the tenant's SCIM base URLs
	Algorithm  string     `db:"algorithm" json:"algorithm"`
	KeySummary string     `db:"key_summary" json:"key"` // what the key is, e.g. "RSA 2048-bit public key"
	CreatedAt  time.Time  `db:"created_at" json:"created_at"`
	LastUsedAt *time.Time `db:"last_used_at" json:"last_used_at,omitempty"`
}

// NewIssuer is the input of AddIssuer.
type NewIssuer struct {
	Issuer    string // the exact iss claim
	Audience  string // the aud claim to require; "" requires one of the tenant's SCIM base URLs
	Algorithm string // AlgHS256, AlgRS256 or AlgES256
	// Key is the HS256 shared secret (at least 32 bytes), or for RS256 and
	// ES256 one or more PEM public keys or certificates, or a JWKS document.
	Key []byte
}

// jwtKey is one verification key of an issuer: []byte for HS256,
// *rsa.PublicKey for RS256, *ecdsa.PublicKey for ES256.
type jwtKey struct {
	kid string
	key any
}

// parseKeys checks key material for an algorithm and returns its keys and a
// summary fit to show. It returns EINVALID, saying what is wrong, for
// anything else, and for private keys, which Bulkhead must never hold.
func parseKeys(alg string, material []byte) ([]jwtKey, string, error) {
	trimmed := bytes.TrimSpace(material)
	switch alg {
	case AlgHS256:
		if bytes.HasPrefix(trimmed, []byte("-----BEGIN")) || bytes.HasPrefix(trimmed, []byte("{")) {
			return nil, "", app.Errorf(app.EINVALID, "this looks like a public key, not an HS256 secret: register it with algorithm RS256 or ES256")
		}
		if len(material) < minHMACSecret {
			return nil, "", app.Errorf(app.EINVALID, "an HS256 secret must be at least %d bytes (RFC 7518 §3.2); this one has %d", minHMACSecret, len(material))
		}
		return []jwtKey{{key: bytes.Clone(material)}}, fmt.Sprintf("shared secret, %d bytes", len(material)), nil
	case AlgRS256, AlgES256:
	default:
		return nil, "", app.Errorf(app.EINVALID, "unknown algorithm %q: use HS256, RS256 or ES256", alg)
	}
	var keys []jwtKey
	var err error
	if bytes.HasPrefix(trimmed, []byte("{")) {
		keys, err = parseJWKS(alg, trimmed)
	} else {
		keys, err = parsePEMKeys(alg, trimmed)
	}
	if err != nil {
		return nil, "", err
	}
	return keys, summarize(alg, keys), nil
}

func summarize(alg string, keys []jwtKey) string {
	kind := "RSA"
	if alg == AlgES256 {
		kind = "EC P-256"
	}
	if len(keys) == 1 {
		s := kind + " public key"
		if k, ok := keys[0].key.(*rsa.PublicKey); ok {
			s = fmt.Sprintf("RSA %d-bit public key", k.N.BitLen())
		}
		if keys[0].kid != "" {
			s += " (kid " + keys[0].kid + ")"
		}
		return s
	}
	var kids []string
	for _, k := range keys {
		if k.kid != "" {
			kids = append(kids, k.kid)
		}
	}
	s := fmt.Sprintf("%d %s public keys", len(keys), kind)
	if len(kids) > 0 {
		s += " (kid " + strings.Join(kids, ", ") + ")"
	}
	return s
}

// parsePEMKeys reads one or more PEM blocks: public keys (PKIX or PKCS #1)
// or certificates.
func parsePEMKeys(alg string, data []byte) ([]jwtKey, error) {
	var keys []jwtKey
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		var pub any
		var err error
		switch {
		case strings.Contains(block.Type, "PRIVATE KEY"):
			return nil, app.Errorf(app.EINVALID, "this is a private key: give the issuer's public key; the private key must stay with the issuer")
		case block.Type == "PUBLIC KEY":
			pub, err = x509.ParsePKIXPublicKey(block.Bytes)
		case block.Type == "RSA PUBLIC KEY":
			pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
		case block.Type == "CERTIFICATE":
			var cert *x509.Certificate
			if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
				pub = cert.PublicKey
			}
		default:
			return nil, app.Errorf(app.EINVALID, "unexpected PEM block %q: give a PUBLIC KEY or a CERTIFICATE", block.Type)
		}
		if err != nil {
			return nil, app.Errorf(app.EINVALID, "the %s PEM block cannot be read: %v", block.Type, err)
		}
		if err := checkKeyFor(alg, pub); err != nil {
			return nil, err
		}
		keys = append(keys, jwtKey{key: pub})
	}
	if len(bytes.TrimSpace(data)) > 0 || len(keys) == 0 {
		return nil, app.Errorf(app.EINVALID, "the key is neither PEM nor a JWKS document")
	}
	return keys, nil
}

// checkKeyFor refuses a public key of the wrong type for alg, and RSA keys
// shorter than 2048 bits.
func checkKeyFor(alg string, pub any) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if alg != AlgRS256 {
			return app.Errorf(app.EINVALID, "an RSA key cannot verify %s: register it with algorithm RS256", alg)
		}
		if k.N.BitLen() < 2048 {
			return app.Errorf(app.EINVALID, "the RSA key has %d bits; at least 2048 are required", k.N.BitLen())
		}
	case *ecdsa.PublicKey:
		if alg != AlgES256 {
			return app.Errorf(app.EINVALID, "an EC key cannot verify %s: register it with algorithm ES256", alg)
		}
		if k.Curve != elliptic.P256() {
			return app.Errorf(app.EINVALID, "ES256 needs a P-256 key, not %s", k.Curve.Params().Name)
		}
	default:
		return app.Errorf(app.EINVALID, "unsupported key type %T: use an RSA or EC P-256 public key", pub)
	}
	return nil
}

// jwk is one JSON Web Key (RFC 7517), with the members Bulkhead reads.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
	D   string `json:"d"`
}

// parseJWKS reads a JWKS document ({"keys": [...]}) or a single JWK, and
// keeps the signing keys usable with alg. Keys for other algorithms or for
// encryption are skipped; a document without any usable key is refused.
func parseJWKS(alg string, data []byte) ([]jwtKey, error) {
	var doc struct {
		Keys []jwk `json:"keys"`
		jwk
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, app.Errorf(app.EINVALID, "the JWKS document is not valid JSON: %v", err)
	}
	if doc.Keys == nil && doc.Kty != "" {
		doc.Keys = []jwk{doc.jwk}
	}
	var keys []jwtKey
	for i, k := range doc.Keys {
		if k.D != "" {
			return nil, app.Errorf(app.EINVALID, "key %d of the JWKS is a private key: give the issuer's public keys only", i+1)
		}
		if (k.Use != "" && k.Use != "sig") || (k.Alg != "" && k.Alg != alg) {
			continue
		}
		var pub any
		switch {
		case k.Kty == "RSA" && alg == AlgRS256:
			n, err1 := base64.RawURLEncoding.DecodeString(strings.TrimRight(k.N, "="))
			e, err2 := base64.RawURLEncoding.DecodeString(strings.TrimRight(k.E, "="))
			if err1 != nil || err2 != nil || len(n) == 0 || len(e) == 0 || len(e) > 4 {
				return nil, app.Errorf(app.EINVALID, "key %d of the JWKS has a malformed n or e", i+1)
			}
			exp := new(big.Int).SetBytes(e).Int64()
			if exp < 3 || exp%2 == 0 {
				return nil, app.Errorf(app.EINVALID, "key %d of the JWKS has an invalid exponent", i+1)
			}
			pub = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(exp)}
		case k.Kty == "EC" && alg == AlgES256:
			if k.Crv != "P-256" {
				continue
			}
			x, err1 := base64.RawURLEncoding.DecodeString(strings.TrimRight(k.X, "="))
			y, err2 := base64.RawURLEncoding.DecodeString(strings.TrimRight(k.Y, "="))
			if err1 != nil || err2 != nil || len(x) != 32 || len(y) != 32 {
				return nil, app.Errorf(app.EINVALID, "key %d of the JWKS has a malformed x or y", i+1)
			}
			ec, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
			if err != nil {
				return nil, app.Errorf(app.EINVALID, "key %d of the JWKS is not a point on P-256", i+1)
			}
			pub = ec
		default:
			continue
		}
		if err := checkKeyFor(alg, pub); err != nil {
			return nil, err
		}
		keys = append(keys, jwtKey{kid: k.Kid, key: pub})
	}
	if len(keys) == 0 {
		return nil, app.Errorf(app.EINVALID, "the JWKS has no signing key for %s", alg)
	}
	return keys, nil
}

const issuerColumns = `id, tenant_id, issuer, audience, algorithm, key_summary, created_at, last_used_at`

// AddIssuer registers a JWT issuer for the tenant. It returns ENOTFOUND for
// an unknown tenant and EINVALID for an empty issuer, an unknown algorithm
// or key material that does not fit it. The key material is stored (an
// HS256 secret must be, to verify) but never returned.
func (s *Service) AddIssuer(ctx context.Context, tenantID string, ni NewIssuer, actor string) (*Issuer, error) {
	ni.Issuer, ni.Audience = strings.TrimSpace(ni.Issuer), strings.TrimSpace(ni.Audience)
	if ni.Issuer == "" || len(ni.Issuer) > 1000 {
		return nil, app.Errorf(app.EINVALID, "the issuer must be the exact iss claim of its tokens, 1 to 1000 characters")
	}
	if len(ni.Audience) > 1000 {
		return nil, app.Errorf(app.EINVALID, "the audience is longer than 1000 characters")
	}
	_, summary, err := parseKeys(ni.Algorithm, ni.Key)
	if err != nil {
		return nil, err
	}
	var is Issuer
	err = s.DB.Transact(ctx, func(tx *sqlx.Tx) error {
		if err := tenant.RequireTenant(ctx, tx, tenantID); err != nil {
			return err
		}
		const q = `
			INSERT INTO control.jwt_issuers (id, tenant_id, issuer, audience, algorithm, key_material, key_summary)
			VALUES ($1, $2, $3, $4, $5, $6, $7)
			RETURNING ` + issuerColumns
		if err := tx.GetContext(ctx, &is, q, uuid.New(), tenantID, ni.Issuer, ni.Audience, ni.Algorithm, ni.Key, summary); err != nil {
			return fmt.Errorf("add issuer for %q: %w", tenantID, err)
		}
		return audit.Record(ctx, tx, actor, "jwt_issuer.add", tenantID, map[string]any{
			"issuer_id": is.ID, "issuer": is.Issuer, "audience": is.Audience, "algorithm": is.Algorithm, "key": summary,
		})
	})
	if err != nil {
		return nil, err
	}
	return &is, nil
}

// FindIssuers lists the tenant's JWT issuers, oldest first.
func (s *Service) FindIssuers(ctx context.Context, tenantID string) ([]*Issuer, error) {
	var is []*Issuer
	const q = `SELECT ` + issuerColumns + ` FROM control.jwt_issuers WHERE tenant_id = $1 ORDER BY created_at, id`
	if err := s.DB.SelectContext(ctx, &is, q, tenantID); err != nil {
		return nil, fmt.Errorf("find issuers of %q: %w", tenantID, store.Unavailable(err))
	}
	return is, nil
}

// RemoveIssuer removes one of the tenant's JWT issuers; its tokens are
// refused everywhere within moments. It returns ENOTFOUND for an unknown
// tenant, and when the tenant has no such issuer.
func (s *Service) RemoveIssuer(ctx context.Context, tenantID, issuerID, actor string) error {
	return s.DB.Transact(ctx, func(tx *sqlx.Tx) error {
		if err := tenant.RequireTenant(ctx, tx, tenantID); err != nil {
			return err
		}
		id, err := uuid.Parse(issuerID)
		if err != nil {
			return app.Errorf(app.ENOTFOUND, "tenant %q has no issuer %q", tenantID, issuerID)
		}
		var iss string
		const q = `DELETE FROM control.jwt_issuers WHERE id = $1 AND tenant_id = $2 RETURNING issuer`
		if err := tx.GetContext(ctx, &iss, q, id, tenantID); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return app.Errorf(app.ENOTFOUND, "tenant %q has no issuer %q", tenantID, issuerID)
			}
			return fmt.Errorf("remove issuer: %w", err)
		}
		return audit.Record(ctx, tx, actor, "jwt_issuer.remove", tenantID, map[string]any{"issuer_id": id, "issuer": iss})
	})
}
