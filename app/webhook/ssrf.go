package webhook

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"

	"github.com/bulkhead-dev/bulkhead/app"
)

// Policy says which addresses webhook requests may reach. Bulkhead sends
// them from inside the operator's network, so a URL that names an internal
// address would let whoever registers endpoints probe it (server-side
// request forgery): only public unicast addresses over https are allowed,
// plus the prefixes in Allow, which may also be reached over plain http.
type Policy struct {
	Allow []netip.Prefix
}

// ParseAllow reads BULKHEAD_WEBHOOK_ALLOW: CIDR prefixes separated by
// commas ("" allows nothing beyond the public internet).
func ParseAllow(s string) (Policy, error) {
	var p Policy
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		pfx, err := netip.ParsePrefix(f)
		if err != nil {
			return Policy{}, fmt.Errorf("BULKHEAD_WEBHOOK_ALLOW: %q is not a CIDR prefix such as 10.0.0.0/8", f)
		}
		p.Allow = append(p.Allow, pfx.Masked())
	}
	return p, nil
}

// allowed reports whether the operator allowed ip.
func (p Policy) allowed(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, pfx := range p.Allow {
		if pfx.Contains(ip) {
			return true
		}
	}
	return false
}

// special are the IPv4 and IPv6 ranges that are not the public internet
// beyond what netip's predicates name: shared address space (carrier NAT),
// benchmarking, documentation, IETF protocol assignments, 6to4 relays,
// NAT64, Teredo and the deprecated IPv4-compatible ::/96 (which embed an
// IPv4 address of any kind), the deprecated site-local fec0::/10, and the
// reserved 240/4. netip calls ::127.0.0.1 and fec0::1 global unicast.
var special = func() []netip.Prefix {
	var ps []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24",
		"198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "240.0.0.0/4",
		"::/96", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32", "2002::/16",
		"3fff::/20", "fec0::/10",
	} {
		ps = append(ps, netip.MustParsePrefix(s))
	}
	return ps
}()

// public reports whether ip is a public unicast address: not loopback,
// link-local, private, unspecified, multicast or otherwise special.
func public(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsGlobalUnicast() || ip.IsPrivate() || ip.IsLoopback() || ip.IsLinkLocalUnicast() ||
		ip.IsMulticast() || ip.IsUnspecified() || ip.IsInterfaceLocalMulticast() {
		return false
	}
	for _, pfx := range special {
		if pfx.Contains(ip) {
			return false
		}
	}
	return true
}

// checkIP returns an error unless a request may go to ip, over plain http
// when plain.
func (p Policy) checkIP(ip netip.Addr, plain bool) error {
	if p.allowed(ip) {
		return nil
	}
	if !public(ip) {
		return fmt.Errorf("%s is not a public address (loopback, private, link-local and other special addresses are refused unless BULKHEAD_WEBHOOK_ALLOW names them)", ip.Unmap())
	}
	if plain {
		return fmt.Errorf("plain http to %s: webhook URLs must use https unless BULKHEAD_WEBHOOK_ALLOW names the address", ip.Unmap())
	}
	return nil
}

// maxURL bounds an endpoint's URL.
const maxURL = 2048

// CheckURL returns EINVALID, with a message for the "url" field, unless raw
// is an absolute https URL (or http to an allowed address) whose host
// resolves only to addresses the policy allows. Delivery checks the address
// it actually dials again (dialControl), since DNS may answer differently
// then.
func (p Policy) CheckURL(ctx context.Context, raw string) error {
	bad := func(msg string) error { return app.FieldErrors{"url": msg}.Err("webhook") }
	if len(raw) > maxURL {
		return bad(fmt.Sprintf("Must be at most %d characters.", maxURL))
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Hostname() == "" {
		return bad("Must be an absolute URL such as https://app.example.com/bulkhead/events.")
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return bad("Must be an https URL.")
	}
	if u.User != nil {
		return bad("Must not carry a user name or password.")
	}
	if port := u.Port(); port != "" {
		// url.Parse takes any digits: port 99999 would fail every delivery.
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return bad("Must have a port from 1 to 65535.")
		}
	}
	if u.Fragment != "" {
		return bad("Must not have a #fragment.")
	}
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(u.Hostname()); err == nil {
		ips = []netip.Addr{ip}
	} else {
		addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", u.Hostname())
		if err != nil || len(addrs) == 0 {
			return bad(fmt.Sprintf("The host %s does not resolve.", u.Hostname()))
		}
		ips = addrs
	}
	for _, ip := range ips {
		if err := p.checkIP(ip, u.Scheme == "http"); err != nil {
			return bad("Refused: " + err.Error() + ".")
		}
	}
	return nil
}

// plainKey marks a delivery's context as plain http, for dialControl.
type plainKey struct{}

// dialControl is the delivery dialer's check of the address it is about
// to connect to, after DNS: a name that resolved to a public address at
// registration and to an internal one now (DNS rebinding) is refused here.
func (p Policy) dialControl(ctx context.Context, network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("dial %s: %w", address, err)
	}
	plain, _ := ctx.Value(plainKey{}).(bool)
	if err := p.checkIP(ap.Addr(), plain); err != nil {
		return fmt.Errorf("refused: %w", err)
	}
	return nil
}
