package azure

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/google/uuid"
)

// ServicePrincipalSpec is the service principal EnsureServicePrincipal
// makes exist.
type ServicePrincipalSpec struct {
	// DisplayName names the application and finds it again. Required.
	DisplayName string
	// SubscriptionID is the subscription of Scope. Required.
	SubscriptionID string
	// Scope is where the role is assigned: /subscriptions/<id> or
	// /subscriptions/<id>/resourceGroups/<name>. Required.
	Scope string
	// RoleID is the role definition's GUID; empty means ContributorRoleID.
	RoleID string
	// KeyID is the id of a client secret the caller already holds; when
	// the application still has it, no new secret is added.
	KeyID string
}

// ServicePrincipal identifies a service principal; nothing in it is secret.
type ServicePrincipal struct {
	// AppID is the application (client) id: AzureClusterIdentity's clientID.
	AppID string `json:"app_id" yaml:"app_id"`
	// AppObjectID is the application object's id in Graph.
	AppObjectID string `json:"app_object_id" yaml:"app_object_id"`
	// ObjectID is the service principal's object id (the principal of the
	// role assignment).
	ObjectID string `json:"object_id" yaml:"object_id"`
	// KeyID is the id of the client secret in use.
	KeyID string `json:"key_id" yaml:"key_id"`
	// RoleAssignmentID is the role assignment's resource id.
	RoleAssignmentID string `json:"role_assignment_id" yaml:"role_assignment_id"`
}

type graphApp struct {
	ID                  string `json:"id"`
	AppID               string `json:"appId"`
	DisplayName         string `json:"displayName"`
	PasswordCredentials []struct {
		KeyID string `json:"keyId"`
	} `json:"passwordCredentials"`
}

type graphSP struct {
	ID    string `json:"id"`
	AppID string `json:"appId"`
}

type graphPassword struct {
	KeyID      string `json:"keyId"`
	SecretText string `json:"secretText"`
}

func (c *Client) graphURLf(format string, args ...any) string {
	return c.graphURL + "/v1.0/" + fmt.Sprintf(format, args...)
}

func odataQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func (c *Client) findApp(ctx context.Context, name string) (*graphApp, error) {
	var list struct {
		Value []graphApp `json:"value"`
	}
	u := c.graphURLf("applications?$filter=%s", url.QueryEscape("displayName eq "+odataQuote(name)))
	if err := do(ctx, c.graph, "find application "+name, http.MethodGet, u, nil, &list); err != nil {
		return nil, err
	}
	switch len(list.Value) {
	case 0:
		return nil, nil
	case 1:
		return &list.Value[0], nil
	}
	return nil, fmt.Errorf("find application %s: %d applications have that display name (delete the extra ones in Entra ID, or rename the deployment)", name, len(list.Value))
}

func (c *Client) findSP(ctx context.Context, appID string) (*graphSP, error) {
	var list struct {
		Value []graphSP `json:"value"`
	}
	u := c.graphURLf("servicePrincipals?$filter=%s", url.QueryEscape("appId eq "+odataQuote(appID)))
	if err := do(ctx, c.graph, "find service principal of "+appID, http.MethodGet, u, nil, &list); err != nil {
		return nil, err
	}
	if len(list.Value) == 0 {
		return nil, nil
	}
	return &list.Value[0], nil
}

// roleAssignmentName is a GUID derived from what the assignment is, so
// that creating it twice is a 409, not a second assignment.
func roleAssignmentName(scope, principal, role string) string {
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte(strings.ToLower(scope+"|"+principal+"|"+role))).String()
}

func roleDefinitionID(subscriptionID, role string) string {
	return "/subscriptions/" + subscriptionID + "/providers/Microsoft.Authorization/roleDefinitions/" + role
}

// EnsureServicePrincipal makes the application, its service principal, a
// client secret and the role assignment exist, creating what is missing.
// secret is the new client secret, or "" when spec.KeyID is still valid.
// Propagation errors are retried (RetryPolicy); other errors are returned
// at once. The secret is never logged.
func (c *Client) EnsureServicePrincipal(ctx context.Context, spec ServicePrincipalSpec) (sp ServicePrincipal, secret string, err error) {
	if spec.DisplayName == "" || spec.SubscriptionID == "" || spec.Scope == "" {
		return ServicePrincipal{}, "", errors.New("ensure service principal: display name, subscription and scope are required")
	}
	role := spec.RoleID
	if role == "" {
		role = ContributorRoleID
	}

	app, err := c.findApp(ctx, spec.DisplayName)
	if err != nil {
		return sp, "", err
	}
	if app == nil {
		app = &graphApp{}
		if err := do(ctx, c.graph, "create application "+spec.DisplayName, http.MethodPost, c.graphURLf("applications"),
			map[string]any{"displayName": spec.DisplayName, "signInAudience": "AzureADMyOrg"}, app); err != nil {
			return sp, "", err
		}
		c.log.Info("application created", "name", spec.DisplayName, "app_id", app.AppID)
	} else {
		c.log.Info("application exists", "name", spec.DisplayName, "app_id", app.AppID)
	}
	sp.AppID, sp.AppObjectID = app.AppID, app.ID

	gsp, err := c.findSP(ctx, app.AppID)
	if err != nil {
		return sp, "", err
	}
	if gsp == nil {
		gsp = &graphSP{}
		err := c.withRetry(ctx, "create service principal of "+app.AppID, func() error {
			return do(ctx, c.graph, "create service principal of "+app.AppID, http.MethodPost, c.graphURLf("servicePrincipals"),
				map[string]any{"appId": app.AppID}, gsp)
		})
		if err != nil {
			return sp, "", err
		}
		c.log.Info("service principal created", "app_id", app.AppID, "object_id", gsp.ID)
	}
	sp.ObjectID = gsp.ID

	known := false
	for _, pc := range app.PasswordCredentials {
		if spec.KeyID != "" && strings.EqualFold(pc.KeyID, spec.KeyID) {
			known = true
		}
	}
	if known {
		sp.KeyID = spec.KeyID
		c.log.Info("client secret still valid", "key_id", spec.KeyID)
	} else {
		var pw graphPassword
		err := c.withRetry(ctx, "add client secret to "+app.AppID, func() error {
			return do(ctx, c.graph, "add client secret to "+app.AppID, http.MethodPost, c.graphURLf("applications/%s/addPassword", url.PathEscape(app.ID)),
				map[string]any{"passwordCredential": map[string]any{"displayName": "k0rdent"}}, &pw)
		})
		if err != nil {
			return sp, "", err
		}
		if pw.SecretText == "" {
			return sp, "", fmt.Errorf("add client secret to %s: the answer holds no secret", app.AppID)
		}
		sp.KeyID, secret = pw.KeyID, pw.SecretText
		c.log.Info("client secret added", "app_id", app.AppID, "key_id", pw.KeyID)
	}

	rc, err := c.roleAssignments(spec.SubscriptionID)
	if err != nil {
		return sp, secret, err
	}
	name := roleAssignmentName(spec.Scope, gsp.ID, role)
	raID := spec.Scope + "/providers/Microsoft.Authorization/roleAssignments/" + name
	op := fmt.Sprintf("assign role %s to %s at %s", role, app.AppID, spec.Scope)
	err = c.withRetry(ctx, op, func() error {
		resp, err := rc.Create(ctx, spec.Scope, name, armauthorization.RoleAssignmentCreateParameters{
			Properties: &armauthorization.RoleAssignmentProperties{
				PrincipalID:      to.Ptr(gsp.ID),
				RoleDefinitionID: to.Ptr(roleDefinitionID(spec.SubscriptionID, role)),
				PrincipalType:    to.Ptr(armauthorization.PrincipalTypeServicePrincipal),
			},
		}, nil)
		if err != nil {
			err = fromSDK(op, err)
			var ae *APIError
			if errors.As(err, &ae) && ae.StatusCode == http.StatusConflict && ae.Code == "RoleAssignmentExists" {
				// ARM allows one assignment per scope, principal and
				// role: this one, or one made earlier under another name
				// (another tool, by hand, a name scheme of an older
				// k0rdent). Record the real one, so Destroy removes it.
				id, ferr := c.findRoleAssignment(ctx, rc, spec.Scope, gsp.ID, roleDefinitionID(spec.SubscriptionID, role))
				if ferr != nil {
					return ferr
				}
				if id != "" {
					raID = id
				}
				c.log.Info("role assignment exists", "scope", spec.Scope, "id", raID)
				return nil
			}
			return err
		}
		if resp.ID != nil {
			c.log.Info("role assigned", "scope", spec.Scope, "role", role)
		}
		return nil
	})
	if err != nil {
		var ae *APIError
		if errors.As(err, &ae) && ae.StatusCode == http.StatusForbidden {
			return sp, secret, fmt.Errorf("%w (the Azure identity running k0rdent needs Owner or User Access Administrator at %s)", err, spec.Scope)
		}
		return sp, secret, err
	}
	sp.RoleAssignmentID = raID
	return sp, secret, nil
}

// findRoleAssignment returns the id of the assignment of role definition
// roleDef to principal at exactly scope, or "" when there is none.
func (c *Client) findRoleAssignment(ctx context.Context, rc *armauthorization.RoleAssignmentsClient, scope, principal, roleDef string) (string, error) {
	op := "list role assignments at " + scope
	pager := rc.NewListForScopePager(scope, &armauthorization.RoleAssignmentsClientListForScopeOptions{Filter: to.Ptr("principalId eq '" + principal + "'")})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return "", fromSDK(op, err)
		}
		for _, ra := range page.Value {
			if ra == nil || ra.ID == nil || ra.Properties == nil {
				continue
			}
			p := ra.Properties
			if p.PrincipalID != nil && *p.PrincipalID == principal && p.RoleDefinitionID != nil && strings.EqualFold(*p.RoleDefinitionID, roleDef) &&
				(p.Scope == nil || strings.EqualFold(strings.TrimPrefix(*p.Scope, "/"), strings.TrimPrefix(scope, "/"))) {
				return *ra.ID, nil
			}
		}
	}
	return "", nil
}

// DeleteServicePrincipal deletes the role assignment (when its id is known)
// and the application, which deletes its service principal and secrets.
// What is already gone is not an error.
func (c *Client) DeleteServicePrincipal(ctx context.Context, subscriptionID string, sp ServicePrincipal) error {
	var errs []error
	if sp.RoleAssignmentID != "" && subscriptionID != "" {
		rc, err := c.roleAssignments(subscriptionID)
		if err != nil {
			return err
		}
		if _, err := rc.DeleteByID(ctx, sp.RoleAssignmentID, nil); err != nil {
			err = fromSDK("delete role assignment "+sp.RoleAssignmentID, err)
			var ae *APIError
			if !errors.As(err, &ae) || ae.StatusCode != http.StatusNotFound {
				errs = append(errs, err)
			}
		} else {
			c.log.Info("role assignment deleted", "id", sp.RoleAssignmentID)
		}
	}
	if sp.AppObjectID != "" {
		err := do(ctx, c.graph, "delete application "+sp.AppID, http.MethodDelete, c.graphURLf("applications/%s", url.PathEscape(sp.AppObjectID)), nil, nil)
		var ae *APIError
		switch {
		case err == nil:
			c.log.Info("application deleted", "app_id", sp.AppID)
		case errors.As(err, &ae) && ae.StatusCode == http.StatusNotFound:
			c.log.Info("application already gone", "app_id", sp.AppID)
		default:
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Application is an application found in Entra ID with its service
// principal and, when asked for, its role assignment.
type Application struct {
	ServicePrincipal
	DisplayName string
}

// FindServicePrincipal finds an application that k0rdent did not create
// (the bash tool's, recorded only by its client id and display name): by
// appID when given, else by displayName. It returns nil when there is
// none. The result carries the application's display name, so that the
// caller can check it owns it before deleting; its service principal's
// object id; and, when subscriptionID is given, the id of its Contributor
// assignment at that subscription (where the bash tool's az ad sp
// create-for-rbac put it), so that DeleteServicePrincipal removes both.
func (c *Client) FindServicePrincipal(ctx context.Context, subscriptionID, displayName, appID string) (*Application, error) {
	var app *graphApp
	var err error
	if appID != "" {
		app, err = c.findAppByID(ctx, appID)
	} else if displayName != "" {
		app, err = c.findApp(ctx, displayName)
	} else {
		return nil, errors.New("find service principal: a display name or an application id is required")
	}
	if err != nil || app == nil {
		return nil, err
	}
	a := &Application{DisplayName: app.DisplayName, ServicePrincipal: ServicePrincipal{AppID: app.AppID, AppObjectID: app.ID}}
	gsp, err := c.findSP(ctx, app.AppID)
	if err != nil {
		return nil, err
	}
	if gsp == nil || subscriptionID == "" {
		if gsp != nil {
			a.ObjectID = gsp.ID
		}
		return a, nil
	}
	a.ObjectID = gsp.ID
	rc, err := c.roleAssignments(subscriptionID)
	if err != nil {
		return nil, err
	}
	scope := "/subscriptions/" + subscriptionID
	if a.RoleAssignmentID, err = c.findRoleAssignment(ctx, rc, scope, gsp.ID, roleDefinitionID(subscriptionID, ContributorRoleID)); err != nil {
		return nil, err
	}
	return a, nil
}

func (c *Client) findAppByID(ctx context.Context, appID string) (*graphApp, error) {
	var list struct {
		Value []graphApp `json:"value"`
	}
	u := c.graphURLf("applications?$filter=%s", url.QueryEscape("appId eq "+odataQuote(appID)))
	if err := do(ctx, c.graph, "find application "+appID, http.MethodGet, u, nil, &list); err != nil {
		return nil, err
	}
	if len(list.Value) == 0 {
		return nil, nil
	}
	return &list.Value[0], nil
}
