package credential

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/bulkhead-dev/bulkhead/app/store"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
)

// Kinds of credential a Principal authenticated with.
const (
	CredentialToken   = "token"   // an opaque bh_ token
	CredentialJWT     = "jwt"     // a JWT of one of the tenant's issuers
	CredentialGateway = "gateway" // a trusted gateway's signed X-Tenant-ID
)

// Scopes a JWT carries in its scope (or scp) claim. Each allows one SCIM
// operation, if the tenant's permissions allow it too: a scope narrows the
// tenant's permissions and never widens them. A JWT without any of them may
// use only the discovery endpoints.
const (
	ScopeRead   = "scim:read"
	ScopeCreate = "scim:create"
	ScopeUpdate = "scim:update"
	ScopeDelete = "scim:delete"
	ScopeList   = "scim:list"
)

// JWTLeeway is the clock skew tolerated on a JWT's exp, nbf and iat.
const JWTLeeway = 60 * time.Second

// maxJWTBytes bounds the JWTs Bulkhead parses at all.
const maxJWTBytes = 8 << 10

// Actor names the principal in audit trails: "token:<prefix>",
// "jwt:<issuer id prefix>:<sub>" or "gateway".
func (p *Principal) Actor() string {
	switch p.Kind {
	case CredentialJWT:
		sub := p.Subject
		if len(sub) > 100 {
			// Whole characters only: a cut rune is invalid UTF-8, which
			// PostgreSQL refuses in the audit record and the event.
			sub = strings.ToValidUTF8(sub[:100], "")
		}
		return p.TokenPrefix + ":" + sub
	case CredentialGateway:
		return CredentialGateway
	}
	return "token:" + p.TokenPrefix
}

// tenantCreds is what Auth caches per tenant for JWTs and the gateway: the
// tenant with its permissions, and its issuers with their keys parsed.
type tenantCreds struct {
	base    Principal
	issuers []verifier
}

type credsEntry struct {
	c       *tenantCreds
	expires time.Time
}

// verifier is one registered issuer, ready to verify.
type verifier struct {
	id               uuid.UUID
	issuer, audience string
	alg              string
	keys             []jwtKey
}

// keyfunc returns the keys a JWT may be signed with: those with the kid its
// header names, or all of them when either side has no kid.
func (v *verifier) keyfunc(t *jwt.Token) (any, error) {
	kid, _ := t.Header["kid"].(string)
	var set jwt.VerificationKeySet
	for _, k := range v.keys {
		if kid == "" || k.kid == "" || k.kid == kid {
			set.Keys = append(set.Keys, k.key)
		}
	}
	if len(set.Keys) == 0 {
		return nil, fmt.Errorf("no key with kid %q", kid)
	}
	return set, nil
}

// loadCreds reads a tenant, its permissions and its issuers. It returns the
// usual EUNAUTHORIZED for an unknown tenant or one being deleted.
func (s *Service) loadCreds(ctx context.Context, tenantID string) (*tenantCreds, error) {
	var row struct {
		tenant.Tenant
		tenant.Permissions
		tenant.Flags
		Extensions []byte `db:"extensions"`
	}
	const q = `
		SELECT t.id, t.name, t.plan, t.status, t.isolation, t.trial_ends_at, t.schema_version, t.created_at, t.updated_at,
			p.can_create, p.can_read, p.can_update, p.can_delete, p.can_list,
			p.max_users, p.max_groups, p.requests_per_minute, p.burst, p.bulk_enabled,
			p.soft_delete, p.require_if_match, p.strict_schemas, p.replace_no_target, ` + tenant.ExtensionsColumn + `
		FROM control.tenants t JOIN control.tenant_permissions p ON p.tenant_id = t.id
		WHERE t.id = $1 AND t.status <> 'deleting'`
	var issuers []struct {
		ID       uuid.UUID `db:"id"`
		Issuer   string    `db:"issuer"`
		Audience string    `db:"audience"`
		Alg      string    `db:"algorithm"`
		Key      []byte    `db:"key_material"`
	}
	const qi = `SELECT id, issuer, audience, algorithm, key_material FROM control.jwt_issuers WHERE tenant_id = $1`
	err := s.DB.Control(ctx, func(c sqlx.QueryerContext) error {
		if err := sqlx.GetContext(ctx, c, &row, q, tenantID); err != nil {
			return err
		}
		if err := sqlx.SelectContext(ctx, c, &issuers, qi, tenantID); err != nil {
			return fmt.Errorf("load issuers of %q: %w", tenantID, store.Unavailable(err))
		}
		return nil
	})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errUnauthorized
	}
	if err != nil {
		return nil, fmt.Errorf("load tenant %q: %w", tenantID, store.Unavailable(err))
	}
	c := &tenantCreds{base: Principal{Tenant: row.Tenant, Permissions: row.Permissions, Flags: row.Flags, Types: tenant.ResourceTypesOf(row.Extensions)}}
	for _, is := range issuers {
		keys, _, err := parseKeys(is.Alg, is.Key)
		if err != nil { // checked when added; a row edited by hand since
			continue
		}
		c.issuers = append(c.issuers, verifier{id: is.ID, issuer: is.Issuer, audience: is.Audience, alg: is.Alg, keys: keys})
	}
	return c, nil
}

// creds returns a tenant's credentials from the cache when it can, as
// Authenticate does for tokens.
func (a *Auth) creds(ctx context.Context, tenantID string) (*tenantCreds, error) {
	now := time.Now()
	a.mu.Lock()
	e, ok := a.credsCache[tenantID]
	cached := ok && a.listening && now.Before(e.expires)
	gen := a.gen
	a.mu.Unlock()
	if cached {
		return e.c, nil
	}
	c, err := a.svc.loadCreds(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	if a.listening && a.gen == gen {
		if len(a.credsCache) >= MaxCachedTokens {
			shrink(a.credsCache, now, func(e credsEntry) time.Time { return e.expires })
		}
		a.credsCache[tenantID] = credsEntry{c: c, expires: now.Add(a.ttl)}
	}
	a.mu.Unlock()
	return c, nil
}

// jwtClaims are the claims Bulkhead reads from a JWT.
type jwtClaims struct {
	jwt.RegisteredClaims
	TenantID string     `json:"tenant_id"`
	Scope    scopeClaim `json:"scope"`
	Scp      scopeClaim `json:"scp"`
}

// scopeClaim reads a space-separated string (RFC 8693 §4.2) or an array of
// strings, as some identity providers send scp.
type scopeClaim []string

// UnmarshalJSON implements json.Unmarshaler.
func (s *scopeClaim) UnmarshalJSON(b []byte) error {
	var str string
	if err := json.Unmarshal(b, &str); err == nil {
		*s = strings.Fields(str)
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return errors.New("scope must be a string or an array of strings")
	}
	*s = list
	return nil
}

// narrow keeps the operations both the tenant's permissions and the scopes
// allow.
func narrow(p tenant.Permissions, scopes []string) tenant.Permissions {
	has := map[string]bool{}
	for _, s := range scopes {
		has[s] = true
	}
	p.CanRead = p.CanRead && has[ScopeRead]
	p.CanCreate = p.CanCreate && has[ScopeCreate]
	p.CanUpdate = p.CanUpdate && has[ScopeUpdate]
	p.CanDelete = p.CanDelete && has[ScopeDelete]
	p.CanList = p.CanList && has[ScopeList]
	return p
}

// AuthenticateJWT returns the principal of a JWT bearer credential. The JWT
// must name a tenant in its tenant_id claim and be signed, with the
// registered algorithm and no other, by an issuer registered for that
// tenant with the same iss; its aud must hold the issuer's configured
// audience, or, when none is configured, one of audiences(tenant); exp is
// required, and exp, nbf and iat are checked with JWTLeeway of clock skew.
// The principal's permissions are the tenant's narrowed by the JWT's scope.
// Every failure gives the same EUNAUTHORIZED as a bad opaque token; the
// reason is logged.
func (a *Auth) AuthenticateJWT(ctx context.Context, raw string, audiences func(tenantID string) []string) (*Principal, error) {
	if len(raw) > maxJWTBytes {
		return nil, errUnauthorized
	}
	var unverified jwtClaims
	tok, _, err := jwt.NewParser().ParseUnverified(raw, &unverified)
	if err != nil || !store.ValidTenantID(unverified.TenantID) || unverified.Issuer == "" {
		return nil, errUnauthorized
	}
	tenantID, iss := unverified.TenantID, unverified.Issuer
	alg, _ := tok.Header["alg"].(string)
	c, err := a.creds(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	reason := errors.New("no issuer with this iss and alg is registered for the tenant")
	for i := range c.issuers {
		v := &c.issuers[i]
		if v.issuer != iss || v.alg != alg {
			continue
		}
		aud := audiences(tenantID)
		if v.audience != "" {
			aud = []string{v.audience}
		}
		if len(aud) == 0 {
			continue // never parse without an audience to require
		}
		var claims jwtClaims
		_, err := jwt.ParseWithClaims(raw, &claims, v.keyfunc,
			jwt.WithValidMethods([]string{v.alg}),
			jwt.WithIssuer(v.issuer),
			jwt.WithAudience(aud...),
			jwt.WithLeeway(JWTLeeway),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
		)
		if err == nil && claims.TenantID != tenantID {
			err = errors.New("tenant_id changed between parses")
		}
		if err == nil {
			// The subject goes into the audit trail: plain text, bounded.
			err = app.CheckName("the sub claim", claims.Subject, maxJWTSubject)
		}
		if err != nil {
			reason = err
			continue
		}
		scopes := claims.Scope
		if scopes == nil {
			scopes = claims.Scp
		}
		p := c.base
		p.Permissions = narrow(p.Permissions, scopes)
		p.Kind, p.TokenID, p.TokenPrefix, p.Subject = CredentialJWT, v.id, "jwt:"+v.id.String()[:8], claims.Subject
		a.mu.Lock()
		a.usedIssuers[v.id] = true
		a.mu.Unlock()
		return &p, nil
	}
	if a.log != nil {
		a.log.Info("JWT refused", "tenant_id", tenantID, "iss", truncate(iss, 200), "alg", truncate(alg, 20), "reason", reason.Error())
	}
	return nil, errUnauthorized
}

// maxJWTSubject is the longest sub claim of a JWT accepted.
const maxJWTSubject = 256

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// AuthenticateGateway returns the principal of a request a trusted gateway
// made for tenantID, with the tenant's permissions. The caller must have
// checked the gateway's signature. It returns the usual EUNAUTHORIZED for an
// invalid or unknown tenant.
func (a *Auth) AuthenticateGateway(ctx context.Context, tenantID string) (*Principal, error) {
	if !store.ValidTenantID(tenantID) {
		return nil, errUnauthorized
	}
	c, err := a.creds(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	p := c.base
	p.Kind, p.TokenPrefix = CredentialGateway, CredentialGateway
	return &p, nil
}

// TenancyModes are the ways a deployment lets SCIM clients reach a tenant:
// the web server's configuration, given to FindCredentials.
type TenancyModes struct {
	BaseURL      string // public URL, without a trailing slash
	TenantDomain string // e.g. scim.example.com, serving acme.scim.example.com; "" when subdomains are off
	Gateway      bool   // a trusted gateway may name the tenant
}

// PathURL returns the tenant's SCIM base URL under /tenants/{id}.
func (m TenancyModes) PathURL(tenantID string) string {
	return m.BaseURL + "/tenants/" + tenantID + "/scim/v2"
}

// SubdomainURL returns the tenant's SCIM base URL on its own host, with the
// scheme of BaseURL and the given port ("" for none), or "" when subdomains
// are off.
func (m TenancyModes) SubdomainURL(tenantID, port string) string {
	if m.TenantDomain == "" {
		return ""
	}
	scheme, _, ok := strings.Cut(m.BaseURL, "://")
	if !ok {
		scheme = "https"
	}
	host := tenantID + "." + m.TenantDomain
	if port != "" {
		host += ":" + port
	}
	return scheme + "://" + host + "/scim/v2"
}

// Audiences returns the aud values a JWT of the tenant may carry when its
// issuer has no audience configured: the tenant's own SCIM base URLs.
func (m TenancyModes) Audiences(tenantID string) []string {
	aud := []string{m.PathURL(tenantID)}
	if u := m.SubdomainURL(tenantID, ""); u != "" {
		aud = append(aud, u)
	}
	return aud
}

// Credentials says how a tenant's SCIM clients may authenticate and where
// they reach it, for the console.
type Credentials struct {
	TenantID string `json:"tenant_id"`
	// Opaque tokens: how many are neither revoked nor expired, and the
	// last time any of the tenant's tokens was used.
	ActiveTokens     int        `json:"active_tokens"`
	TokensLastUsedAt *time.Time `json:"tokens_last_used_at,omitempty"`
	// Issuers are the JWT issuers the tenant trusts, each with its last use.
	Issuers []*Issuer `json:"jwt_issuers"`
	// JWTAudiences are the aud values accepted from issuers without a
	// configured audience.
	JWTAudiences []string `json:"jwt_audiences"`
	PathURL      string   `json:"path_url"`                // {BASE_URL}/tenants/{id}/scim/v2
	SharedURL    string   `json:"shared_url"`              // {BASE_URL}/scim/v2, where the credential picks the tenant
	SubdomainURL string   `json:"subdomain_url,omitempty"` // set when subdomain tenancy is on
	Subdomain    bool     `json:"subdomain"`
	Gateway      bool     `json:"gateway"` // a trusted gateway may act for the tenant
}

// FindCredentials returns the credentials the tenant accepts under the
// deployment's modes. It returns ENOTFOUND for an unknown tenant.
func (s *Service) FindCredentials(ctx context.Context, tenantID string, m TenancyModes) (*Credentials, error) {
	if _, err := s.Tenants.FindTenant(ctx, tenantID); err != nil {
		return nil, err
	}
	var tok struct {
		Active   int        `db:"active"`
		LastUsed *time.Time `db:"last_used"`
	}
	const q = `
		SELECT count(*) FILTER (WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())) AS active,
			max(last_used_at) AS last_used
		FROM control.tokens WHERE tenant_id = $1`
	if err := s.DB.GetContext(ctx, &tok, q, tenantID); err != nil {
		return nil, fmt.Errorf("count tokens of %q: %w", tenantID, store.Unavailable(err))
	}
	issuers, err := s.FindIssuers(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	if issuers == nil {
		issuers = []*Issuer{}
	}
	return &Credentials{
		TenantID:         tenantID,
		ActiveTokens:     tok.Active,
		TokensLastUsedAt: tok.LastUsed,
		Issuers:          issuers,
		JWTAudiences:     m.Audiences(tenantID),
		PathURL:          m.PathURL(tenantID),
		SharedURL:        m.BaseURL + "/scim/v2",
		SubdomainURL:     m.SubdomainURL(tenantID, ""),
		Subdomain:        m.TenantDomain != "",
		Gateway:          m.Gateway,
	}, nil
}
