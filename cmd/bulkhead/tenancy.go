package main

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/bulkhead-dev/bulkhead/web"
)

// tenancyConfig checks the subdomain and gateway settings of serve and
// returns them as a web.Config to complete. Bad values are usage errors.
func (c *cli) tenancyConfig() (web.Config, error) {
	cfg := web.Config{TenantDomain: strings.Trim(strings.ToLower(strings.TrimSpace(c.TenantDomain)), ".")}
	if d := cfg.TenantDomain; d != "" && (strings.ContainsAny(d, "/:@ ") || !strings.Contains(d, ".")) {
		return cfg, fmt.Errorf("%w: --tenant-domain takes a domain such as scim.example.com, not %q", errUsage, c.TenantDomain)
	}
	for _, s := range strings.Split(c.TrustedProxies, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return cfg, fmt.Errorf("%w: --trusted-proxies: %q is neither a CIDR nor an address", errUsage, s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		cfg.TrustedProxies = append(cfg.TrustedProxies, p.Masked())
	}
	cfg.GatewaySecret = c.GatewaySecret
	switch {
	case len(cfg.TrustedProxies) > 0 && cfg.GatewaySecret == "":
		return cfg, fmt.Errorf("%w: --trusted-proxies needs --gateway-secret (BULKHEAD_GATEWAY_SECRET): the gateway must sign X-Tenant-ID", errUsage)
	case cfg.GatewaySecret != "" && len(cfg.TrustedProxies) == 0:
		return cfg, fmt.Errorf("%w: --gateway-secret needs --trusted-proxies: the gateway's addresses", errUsage)
	case cfg.GatewaySecret != "" && len(cfg.GatewaySecret) < 32:
		return cfg, fmt.Errorf("%w: the gateway secret must be at least 32 bytes", errUsage)
	}
	return cfg, nil
}
