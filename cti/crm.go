package cti

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// RecordOwners finds who owns a HubSpot CRM record, for owner-aware
// routing. HubSpotCRM implements it; tests use fakes.
type RecordOwners interface {
	// OwnerOf returns the record's hubspot_owner_id ("" when it has no
	// owner). objectTypeID is HubSpot's ("0-1" contact, "0-2" company);
	// objectID its record id.
	OwnerOf(ctx context.Context, objectTypeID, objectID string) (string, error)
}

// HubSpotCRM reads records' owners from HubSpot's CRM API (objects v3)
// with a private app's access token (scopes crm.objects.contacts.read and
// crm.objects.companies.read).
type HubSpotCRM struct {
	// BaseURL is the API's root. Empty: https://api.hubapi.com.
	BaseURL string
	// Token is the access token (Authorization: Bearer).
	Token string
	// Client makes the requests. Nil: a client with a 3s timeout.
	Client *http.Client
}

// crmObjects maps HubSpot's standard object type ids to their API names;
// other ids (custom objects) are used as they are.
var crmObjects = map[string]string{"0-1": "contacts", "0-2": "companies", "0-3": "deals", "0-5": "tickets"}

var defaultCRMClient = &http.Client{Timeout: 3 * time.Second}

// OwnerOf implements RecordOwners: GET /crm/v3/objects/{type}/{id}?properties=hubspot_owner_id.
func (c *HubSpotCRM) OwnerOf(ctx context.Context, objectTypeID, objectID string) (string, error) {
	if !digitsOnly(objectID) || !validTypeID(objectTypeID) {
		return "", fmt.Errorf("cti: crm: record %q of type %q: not an id", objectID, objectTypeID)
	}
	obj := crmObjects[objectTypeID]
	if obj == "" {
		obj = objectTypeID
	}
	base := c.BaseURL
	if base == "" {
		base = "https://api.hubapi.com"
	}
	u := strings.TrimRight(base, "/") + "/crm/v3/objects/" + url.PathEscape(obj) + "/" + objectID + "?properties=hubspot_owner_id"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", fmt.Errorf("cti: crm: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	req.Header.Set("Accept", "application/json")
	client := c.Client
	if client == nil {
		client = defaultCRMClient
	}
	res, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("cti: crm: %w", err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return "", fmt.Errorf("cti: crm: %w", err)
	}
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("cti: crm: %s %s: HTTP %d: %.200s", obj, objectID, res.StatusCode, body)
	}
	return parseOwner(body)
}

// parseOwner reads properties.hubspot_owner_id from a CRM object.
func parseOwner(body []byte) (string, error) {
	var o struct {
		Properties map[string]*string `json:"properties"`
	}
	if err := json.Unmarshal(body, &o); err != nil {
		return "", fmt.Errorf("cti: crm: object: %w", err)
	}
	if o.Properties == nil {
		return "", errors.New("cti: crm: object without properties")
	}
	if v := o.Properties["hubspot_owner_id"]; v != nil {
		return strings.TrimSpace(*v), nil
	}
	return "", nil
}

func digitsOnly(s string) bool {
	if s == "" || len(s) > 20 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// validTypeID: "0-1", "2-123456" …
func validTypeID(s string) bool {
	a, b, ok := strings.Cut(s, "-")
	return ok && digitsOnly(a) && digitsOnly(b)
}
