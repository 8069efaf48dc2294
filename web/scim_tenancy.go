package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/bulkhead-dev/bulkhead/app/credential"
	"github.com/bulkhead-dev/bulkhead/app/store"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
)

// Headers of the trusted-gateway mode. A gateway that authenticated the
// caller names the tenant in HeaderTenant and signs the request with
// HeaderGatewaySignature over gatewaySigningString.
const (
	HeaderTenant           = "X-Tenant-ID"
	HeaderGatewayTimestamp = "X-Bulkhead-Gateway-Timestamp"
	HeaderGatewaySignature = "X-Bulkhead-Gateway-Signature"
)

// GatewayMaxSkew is how far a gateway signature's timestamp may be from the
// server's clock, either way.
const GatewayMaxSkew = 5 * time.Minute

// Strategies by which a request reached a tenant's SCIM base URL; each
// gives the base URL that meta.location and every other URL follow.
const (
	viaToken     = iota // {BASE_URL}/scim/v2: the credential picks the tenant
	viaPath             // {BASE_URL}/tenants/{id}/scim/v2
	viaSubdomain        // {scheme}://{id}.{TENANT_DOMAIN}/scim/v2
)

// route is what the request's URL says about the tenant.
type route struct {
	tenant   string // the tenant the URL names; "" when the credential picks
	strategy int
	port     string // the port of the Host header, for subdomain URLs
}

// errNoTenant is the 401 of every request whose URL or credential does not
// work, whatever the reason, so that nobody learns which tenants exist.
var errNoTenant = app.Refusef(app.EUNAUTHORIZED, app.ReasonAuth, "invalid or expired bearer token")

// routeOf reads the tenant from the path (/tenants/{id}/scim/v2) and the
// host ({id}.{TENANT_DOMAIN}, port allowed). A malformed tenant host, or a
// host and path naming different tenants, gives the usual 401.
func (s *Server) routeOf(c echo.Context) (route, error) {
	r := route{strategy: viaToken}
	sub, port, onDomain, err := s.subdomain(c.Request().Host)
	if err != nil {
		return r, err
	}
	if onDomain {
		r = route{tenant: sub, strategy: viaSubdomain, port: port}
	}
	if id := c.Param("tenant"); id != "" {
		if r.tenant != "" && r.tenant != id {
			return r, errNoTenant
		}
		r.tenant, r.strategy = id, viaPath
	}
	return r, nil
}

// subdomain reads a tenant id from a host under the tenant domain. onDomain
// is false for any other host (the apex included), which then works by path
// or by credential only. A host under the domain whose first label is not a
// valid tenant id (a.b.domain, bad characters) or whose port is not a port
// gives the usual 401.
func (s *Server) subdomain(host string) (tenantID, port string, onDomain bool, err error) {
	domain := s.tenantDomain
	if domain == "" || host == "" {
		return "", "", false, nil
	}
	name := host
	if h, p, splitErr := net.SplitHostPort(host); splitErr == nil {
		name, port = h, p
	}
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	label, ok := strings.CutSuffix(name, "."+domain)
	if !ok {
		return "", "", false, nil
	}
	if n, perr := strconv.Atoi(port); port != "" && (perr != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port) {
		return "", "", true, errNoTenant
	}
	if !store.ValidTenantID(label) {
		return "", "", true, errNoTenant
	}
	return label, port, true, nil
}

// base returns the tenant's SCIM base URL as the request reached it.
func (s *Server) base(r route, tenantID string) string {
	switch r.strategy {
	case viaPath:
		return s.modes().PathURL(tenantID)
	case viaSubdomain:
		return s.modes().SubdomainURL(tenantID, r.port)
	}
	return s.cfg.BaseURL + "/scim/v2"
}

// modes returns the deployment's tenancy modes, for the console (through
// tenant.Service.FindCredentials) and for building URLs.
func (s *Server) modes() credential.TenancyModes {
	return credential.TenancyModes{BaseURL: s.cfg.BaseURL, TenantDomain: s.tenantDomain, Gateway: s.gatewayOn()}
}

// authenticate returns the principal of a SCIM request: from a trusted
// gateway's signed X-Tenant-ID, or from its bearer credential, an opaque
// token or a JWT. Every failure is the same 401.
func (s *Server) authenticate(c echo.Context) (*credential.Principal, error) {
	req := c.Request()
	if s.gatewayOn() { // without gateway mode, X-Tenant-ID means nothing
		if id := req.Header.Get(HeaderTenant); id != "" && s.fromTrustedProxy(req) {
			if !s.gatewaySigned(req, id, time.Now()) {
				return nil, errNoTenant
			}
			return s.auth.AuthenticateGateway(req.Context(), id)
		}
	}
	cred, ok := bearer(req)
	if !ok {
		return nil, errNoTenant
	}
	if !strings.HasPrefix(cred, tenant.TokenPrefix) && strings.Count(cred, ".") == 2 {
		return s.auth.AuthenticateJWT(req.Context(), cred, s.modes().Audiences)
	}
	return s.auth.Authenticate(req.Context(), cred)
}

// gatewayOn reports whether trusted-gateway mode is configured.
func (s *Server) gatewayOn() bool { return s.cfg.GatewaySecret != "" && len(s.cfg.TrustedProxies) > 0 }

// fromTrustedProxy reports whether the request's direct peer (never a
// forwarded-for header) is one of the trusted proxies.
func (s *Server) fromTrustedProxy(r *http.Request) bool {
	if !s.gatewayOn() {
		return false
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	addr := ap.Addr().Unmap()
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// gatewaySigned checks a gateway's signature of the request for tenantID:
// HeaderGatewaySignature must be the hex HMAC-SHA256, under the gateway
// secret, of gatewaySigningString, with HeaderGatewayTimestamp (Unix
// seconds) within GatewayMaxSkew of now. The comparison takes constant time.
func (s *Server) gatewaySigned(r *http.Request, tenantID string, now time.Time) bool {
	ts := r.Header.Get(HeaderGatewayTimestamp)
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(ts) > 12 {
		return false
	}
	if d := now.Sub(time.Unix(sec, 0)); d > GatewayMaxSkew || d < -GatewayMaxSkew {
		return false
	}
	got, err := hex.DecodeString(strings.TrimSpace(r.Header.Get(HeaderGatewaySignature)))
	if err != nil || len(got) != sha256.Size {
		return false
	}
	mac := hmac.New(sha256.New, []byte(s.cfg.GatewaySecret))
	mac.Write([]byte(gatewaySigningString(tenantID, r.Method, r.URL.RequestURI(), ts)))
	return hmac.Equal(got, mac.Sum(nil))
}

// gatewaySigningString is what a gateway signs: a version tag, the tenant
// id, the method, the path and query as sent (origin form, e.g.
// /scim/v2/Users?count=10) and the timestamp, one per line.
func gatewaySigningString(tenantID, method, requestURI, timestamp string) string {
	return "bulkhead-gateway-v1\n" + tenantID + "\n" + method + "\n" + requestURI + "\n" + timestamp
}

// clientIP tells Echo how to find a request's client address, as the audit
// trail records it: the direct peer, or, behind a trusted proxy, the address
// that proxy forwards in X-Forwarded-For. A forwarded-for header from
// anywhere else is ignored, so that no client can write another address
// into the trail.
func clientIP(proxies []netip.Prefix) echo.IPExtractor {
	if len(proxies) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, p := range proxies {
		if _, n, err := net.ParseCIDR(p.Masked().String()); err == nil {
			opts = append(opts, echo.TrustIPRange(n))
		}
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}
