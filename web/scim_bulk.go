package web

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/bulkhead-dev/bulkhead/app/directory"
)

// Bulk limits (RFC 7644 §3.7.4), advertised in ServiceProviderConfig; the
// most operations is the SCIM service's (directory.MaxBulkOperations).
const (
	bulkMaxPayloadSize = 4 << 20
	bulkResponseSchema = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
)

// bulkResult is one operation of a BulkResponse.
type bulkResult struct {
	Method   string     `json:"method"`
	BulkID   string     `json:"bulkId,omitempty"`
	Version  string     `json:"version,omitempty"`
	Location string     `json:"location,omitempty"`
	Status   string     `json:"status"`
	Response *scimError `json:"response,omitempty"`
}

// bulk: POST /Bulk (RFC 7644 §3.7), run by the SCIM service
// (directory.Service.Bulk); routes.go refuses it before its body is read
// when Bulk is off for the tenant.
func (s *Server) bulk(c echo.Context) error {
	body, err := readJSON(c, bulkMaxPayloadSize)
	if err != nil {
		return err
	}
	results, err := s.scim.Bulk(c.Request().Context(), writerOf(c), body)
	if err != nil {
		return err
	}
	out := make([]bulkResult, len(results))
	for i, r := range results {
		out[i] = encodeBulkResult(scimBase(c), r)
	}
	return writeSCIM(c, http.StatusOK, map[string]any{"schemas": []string{bulkResponseSchema}, "Operations": out})
}

// encodeBulkResult returns the BulkResponse entry of one operation.
func encodeBulkResult(base string, r directory.BulkResult) bulkResult {
	if r.Err != nil {
		return bulkFailure(r.Method, r.BulkID, r.Err)
	}
	status := http.StatusOK
	switch r.Method {
	case directory.MethodPost:
		status = http.StatusCreated
	case directory.MethodDelete:
		status = http.StatusNoContent
	}
	res := bulkResult{Method: r.Method, BulkID: r.BulkID, Status: strconv.Itoa(status), Location: base + r.Type.Endpoint + "/" + r.ID}
	if r.Resource != nil {
		res.Version = r.Resource.ETag()
	}
	return res
}

// bulkFailure is the entry of an operation that failed with err: its
// status, and the SCIM error a request failing so would get.
func bulkFailure(method, bulkID string, err error) bulkResult {
	var ae *app.Error
	status, scimType := statusOf[app.ErrorCode(err)], ""
	if errors.As(err, &ae) {
		scimType = ae.ScimType
	}
	return bulkResult{Method: method, BulkID: bulkID, Status: strconv.Itoa(status), Response: &scimError{
		Schemas: []string{scimErrorSchema}, Status: strconv.Itoa(status), ScimType: scimType, Detail: app.ErrorMessage(err),
	}}
}
