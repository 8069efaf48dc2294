package usage

import "strings"

// Identity providers as told by their User-Agent.
const (
	IdPOkta      = "okta"
	IdPEntra     = "entra"
	IdPOneLogin  = "onelogin"
	IdPJumpCloud = "jumpcloud"
	IdPGoogle    = "google"
	IdPUnknown   = "unknown"
)

// IdPNames are the names people know the identity providers by.
var IdPNames = map[string]string{
	IdPOkta:      "Okta",
	IdPEntra:     "Microsoft Entra ID",
	IdPOneLogin:  "OneLogin",
	IdPJumpCloud: "JumpCloud",
	IdPGoogle:    "Google Workspace",
	IdPUnknown:   "an unknown client",
}

// idpRules map substrings of a lower-cased User-Agent to an identity
// provider, first match wins. Okta documents "Okta SCIM Client 1.0.0";
// Entra ID's provisioning service has sent "Microsoft Azure AD SCIM
// provisioning" and clients built on Microsoft.Identity libraries;
// OneLogin's SCIM template sets "OneLogin SCIM". JumpCloud and Google
// publish no string we could confirm, so their rules are plain substrings.
var idpRules = []struct{ substr, idp string }{
	{"okta", IdPOkta},
	{"microsoft.identity", IdPEntra},
	{"azure ad", IdPEntra},
	{"azure active directory", IdPEntra},
	{"microsoft azure", IdPEntra},
	{"entra", IdPEntra},
	{"onelogin", IdPOneLogin},
	{"jumpcloud", IdPJumpCloud},
	{"googleworkspace", IdPGoogle},
	{"google", IdPGoogle},
}

// IdentifyIdP returns the IdP* constant for a User-Agent header, IdPUnknown
// when none matches.
func IdentifyIdP(userAgent string) string {
	if userAgent == "" {
		return IdPUnknown
	}
	ua := strings.ToLower(userAgent)
	for _, r := range idpRules {
		if strings.Contains(ua, r.substr) {
			return r.idp
		}
	}
	return IdPUnknown
}
