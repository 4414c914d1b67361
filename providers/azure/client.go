package azure

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
)

const (
	moduleName    = "github.com/k0rdent/k0rdent-deploy/providers/azure"
	moduleVersion = "v0.1.0"

	// DefaultGraphEndpoint is Microsoft Graph in the public cloud.
	DefaultGraphEndpoint = "https://graph.microsoft.com"

	subscriptionsAPIVersion = "2022-12-01"
)

// ContributorRoleID is the id of the built-in Contributor role definition,
// the role the bash tool gave the CAPZ service principal.
const ContributorRoleID = "b24988ac-6180-42a0-ab88-20f7382dd24c"

// ErrPropagation is wrapped by the error of a call that kept failing because
// a new directory object had not reached the API yet, after every attempt
// of the RetryPolicy.
var ErrPropagation = errors.New("azure: directory change not propagated")

// APIError is an Azure API's answer that is not a success.
type APIError struct {
	// Op says what was attempted, e.g. "create role assignment".
	Op string
	// StatusCode is the HTTP status.
	StatusCode int
	// Code is the service's error code, e.g. AuthorizationFailed.
	Code string
	// Message is the service's message.
	Message string
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("%s: %d", e.Op, e.StatusCode)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// propagating reports whether e is an answer that a few seconds' wait
// turns into a success: the object was just created and this API does not
// know it yet.
func (e *APIError) propagating() bool {
	switch {
	case e.Code == "PrincipalNotFound": // ARM role assignments
		return true
	case e.StatusCode == http.StatusNotFound && e.Code == "Request_ResourceNotFound": // Graph
		return true
	case e.StatusCode == http.StatusBadRequest && strings.Contains(e.Message, "does not reference a valid application object"): // Graph servicePrincipals
		return true
	}
	return false
}

// RetryPolicy bounds the retries of propagation errors.
type RetryPolicy struct {
	// Attempts is the number of tries in all; 0 means 8.
	Attempts int
	// Delay is the first pause; it doubles up to MaxDelay. 0 means 5s.
	Delay time.Duration
	// MaxDelay caps the pause; 0 means 1m.
	MaxDelay time.Duration
}

func (r RetryPolicy) withDefaults() RetryPolicy {
	if r.Attempts <= 0 {
		r.Attempts = 8
	}
	if r.Delay <= 0 {
		r.Delay = 5 * time.Second
	}
	if r.MaxDelay <= 0 {
		r.MaxDelay = time.Minute
	}
	return r
}

// Options configure a Client. The zero value talks to the public cloud.
type Options struct {
	// Log receives progress lines. Nil discards them.
	Log *slog.Logger
	// Retry bounds the retries of propagation errors.
	Retry RetryPolicy
	// ARM are the options of the ARM clients (cloud, transport for tests).
	ARM arm.ClientOptions
	// Graph are the options of the Graph pipeline (transport for tests).
	Graph policy.ClientOptions
	// GraphEndpoint is Microsoft Graph's base URL; empty means
	// DefaultGraphEndpoint.
	GraphEndpoint string
}

// Client creates and deletes CAPZ service principals. Create it with New;
// it is safe for concurrent use.
type Client struct {
	log      *slog.Logger
	retry    RetryPolicy
	cred     azcore.TokenCredential
	armOpts  arm.ClientOptions
	arm      *arm.Client
	graph    runtime.Pipeline
	graphURL string
}

// DefaultCredential is the credential chain of the Azure SDK: environment
// variables, workload or managed identity, then the Azure CLI's login (what
// the bash tool used).
func DefaultCredential() (azcore.TokenCredential, error) {
	cred, err := azidentity.NewDefaultAzureCredential(nil)
	if err != nil {
		return nil, fmt.Errorf("azure credential: %w (log in with az login, or set AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_CLIENT_SECRET)", err)
	}
	return cred, nil
}

// New returns a client that authenticates with cred.
func New(cred azcore.TokenCredential, opts Options) (*Client, error) {
	if cred == nil {
		return nil, errors.New("azure: nil credential")
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ac, err := arm.NewClient(moduleName, moduleVersion, cred, &opts.ARM)
	if err != nil {
		return nil, fmt.Errorf("azure resource manager client: %w", err)
	}
	graphURL := strings.TrimSuffix(opts.GraphEndpoint, "/")
	if graphURL == "" {
		graphURL = DefaultGraphEndpoint
	}
	gopts := opts.Graph
	pl := runtime.NewPipeline(moduleName, moduleVersion, runtime.PipelineOptions{
		PerRetry: []policy.Policy{runtime.NewBearerTokenPolicy(cred, []string{graphURL + "/.default"}, nil)},
	}, &gopts)
	return &Client{
		log: log, retry: opts.Retry.withDefaults(), cred: cred, armOpts: opts.ARM,
		arm: ac, graph: pl, graphURL: graphURL,
	}, nil
}

func (c *Client) roleAssignments(subscriptionID string) (*armauthorization.RoleAssignmentsClient, error) {
	rc, err := armauthorization.NewRoleAssignmentsClient(subscriptionID, c.cred, &c.armOpts)
	if err != nil {
		return nil, fmt.Errorf("role assignments client: %w", err)
	}
	return rc, nil
}

// withRetry calls f until it succeeds, fails with an error that is not a
// propagation error, or the policy's attempts are used up.
func (c *Client) withRetry(ctx context.Context, op string, f func() error) error {
	delay := c.retry.Delay
	var err error
	for attempt := 1; ; attempt++ {
		err = f()
		var ae *APIError
		if err == nil || !errors.As(err, &ae) || !ae.propagating() {
			return err
		}
		if attempt >= c.retry.Attempts {
			return fmt.Errorf("%w: %s still failing after %d attempts: %w", ErrPropagation, op, attempt, err)
		}
		c.log.Info("not propagated yet; retrying", "op", op, "attempt", attempt, "of", c.retry.Attempts, "in", delay.String(), "error", ae.Code)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s: %w (last error: %w)", op, ctx.Err(), err)
		case <-t.C:
		}
		delay = min(2*delay, c.retry.MaxDelay)
	}
}

// do sends a JSON request through pl and decodes a JSON answer into out
// (which may be nil). A non-2xx answer is an *APIError.
func do(ctx context.Context, pl runtime.Pipeline, op, method, url string, in, out any) error {
	req, err := runtime.NewRequest(ctx, method, url)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if in != nil {
		if err := runtime.MarshalAsJSON(req, in); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
	}
	resp, err := pl.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return apiError(op, resp)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := runtime.UnmarshalAsJSON(resp, out); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

// apiError reads Azure's error envelope ({"error":{"code","message"}},
// shared by ARM and Graph).
func apiError(op string, resp *http.Response) *APIError {
	e := &APIError{Op: op, StatusCode: resp.StatusCode}
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := runtime.UnmarshalAsJSON(resp, &body); err == nil {
		e.Code, e.Message = body.Error.Code, body.Error.Message
	}
	return e
}

// fromSDK converts an SDK client's *azcore.ResponseError.
func fromSDK(op string, err error) error {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		e := &APIError{Op: op, StatusCode: re.StatusCode, Code: re.ErrorCode}
		if re.RawResponse != nil {
			if ae := apiError(op, re.RawResponse); ae.Message != "" {
				e.Message = ae.Message
			}
		}
		return e
	}
	return fmt.Errorf("%s: %w", op, err)
}

// Subscription is an Azure subscription.
type Subscription struct {
	ID       string `json:"subscriptionId"`
	TenantID string `json:"tenantId"`
	Name     string `json:"displayName"`
	State    string `json:"state"`
}

// Subscription returns the subscription id, or, when id is empty, the one
// enabled subscription the credential sees; more than one is an error that
// lists them (set azure.subscription_id).
func (c *Client) Subscription(ctx context.Context, id string) (Subscription, error) {
	base := c.arm.Endpoint()
	if id != "" {
		var s Subscription
		err := do(ctx, c.arm.Pipeline(), "get subscription "+id, http.MethodGet,
			runtime.JoinPaths(base, "subscriptions", id)+"?api-version="+subscriptionsAPIVersion, nil, &s)
		return s, err
	}
	var list struct {
		Value []Subscription `json:"value"`
	}
	if err := do(ctx, c.arm.Pipeline(), "list subscriptions", http.MethodGet,
		runtime.JoinPaths(base, "subscriptions")+"?api-version="+subscriptionsAPIVersion, nil, &list); err != nil {
		return Subscription{}, err
	}
	var enabled []Subscription
	var names []string
	for _, s := range list.Value {
		if strings.EqualFold(s.State, "Enabled") {
			enabled = append(enabled, s)
			names = append(names, s.ID+" ("+s.Name+")")
		}
	}
	switch len(enabled) {
	case 1:
		return enabled[0], nil
	case 0:
		return Subscription{}, errors.New("list subscriptions: the Azure identity sees no enabled subscription (az login to another account, or set azure.subscription_id)")
	}
	return Subscription{}, fmt.Errorf("list subscriptions: the Azure identity sees %d subscriptions, %s (set azure.subscription_id)", len(enabled), strings.Join(names, ", "))
}
