package web

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/bulkhead-dev/bulkhead/app/directory"
	"github.com/bulkhead-dev/bulkhead/app/scim"
)

// The discovery endpoints of RFC 7644 §4 describe exactly what this server
// does: each capability they advertise works, and each they deny is refused.

type supported struct {
	Supported bool `json:"supported"`
}

type serviceProviderConfig struct {
	Schemas               []string     `json:"schemas"`
	DocumentationURI      string       `json:"documentationUri,omitempty"`
	Patch                 supported    `json:"patch"`
	Bulk                  bulkConfig   `json:"bulk"`
	Filter                filterConfig `json:"filter"`
	ChangePassword        supported    `json:"changePassword"`
	Sort                  supported    `json:"sort"`
	ETag                  supported    `json:"etag"`
	AuthenticationSchemes []authScheme `json:"authenticationSchemes"`
	Meta                  scim.Meta    `json:"meta"`
}

type bulkConfig struct {
	Supported      bool `json:"supported"`
	MaxOperations  int  `json:"maxOperations"`
	MaxPayloadSize int  `json:"maxPayloadSize"`
}

type filterConfig struct {
	Supported  bool `json:"supported"`
	MaxResults int  `json:"maxResults"`
}

type authScheme struct {
	Type        string `json:"type"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Primary     bool   `json:"primary"`
}

func (s *Server) serviceProviderConfig(c echo.Context) error {
	return writeSCIM(c, http.StatusOK, serviceProviderConfig{
		Schemas:        []string{"urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"},
		Patch:          supported{true},
		Bulk:           bulkConfig{Supported: principalOf(c).Permissions.BulkEnabled, MaxOperations: directory.MaxBulkOperations, MaxPayloadSize: bulkMaxPayloadSize},
		Filter:         filterConfig{Supported: true, MaxResults: maxResults},
		ChangePassword: supported{true},
		Sort:           supported{true},
		ETag:           supported{true},
		AuthenticationSchemes: []authScheme{{
			Type:        "oauthbearertoken",
			Name:        "OAuth Bearer Token",
			Description: "A tenant's SCIM token, sent as 'Authorization: Bearer <token>'. Staff issue tokens in the console or with 'bulkhead tenant token create'.",
			Primary:     true,
		}},
		Meta: scim.Meta{ResourceType: "ServiceProviderConfig", Location: scimBase(c) + "/ServiceProviderConfig"},
	})
}

func (s *Server) resourceTypes(c echo.Context) error {
	var docs []any
	for _, rt := range typesOf(c).All() {
		docs = append(docs, rt.Document(scimBase(c)+"/ResourceTypes/"+rt.ID))
	}
	return writeSCIM(c, http.StatusOK, listResponse{
		Schemas: []string{listSchema}, TotalResults: len(docs), StartIndex: 1, ItemsPerPage: len(docs), Resources: docs,
	})
}

func (s *Server) resourceType(c echo.Context) error {
	for _, rt := range typesOf(c).All() {
		if strings.EqualFold(rt.ID, c.Param("id")) {
			return writeSCIM(c, http.StatusOK, rt.Document(scimBase(c)+"/ResourceTypes/"+rt.ID))
		}
	}
	return app.Errorf(app.ENOTFOUND, "resource type %q not found", c.Param("id"))
}

func (s *Server) schemas(c echo.Context) error {
	var docs []any
	for _, sc := range typesOf(c).Schemas() {
		docs = append(docs, sc.Document(scimBase(c)+"/Schemas/"+sc.ID))
	}
	return writeSCIM(c, http.StatusOK, listResponse{
		Schemas: []string{listSchema}, TotalResults: len(docs), StartIndex: 1, ItemsPerPage: len(docs), Resources: docs,
	})
}

func (s *Server) schema(c echo.Context) error {
	for _, sc := range typesOf(c).Schemas() {
		if strings.EqualFold(sc.ID, c.Param("id")) {
			return writeSCIM(c, http.StatusOK, sc.Document(scimBase(c)+"/Schemas/"+sc.ID))
		}
	}
	return app.Errorf(app.ENOTFOUND, "schema %q not found", c.Param("id"))
}
