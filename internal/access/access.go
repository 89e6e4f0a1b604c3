// Package access is Hestia's one policy decision point. Every interaction
// that touches resources — read, vread, history, search and what it
// includes, create, update, delete, each batch or transaction entry,
// import — is described as a Request and handed to a Policy before any
// data is read or written. The policy of a server is Rules, parsed from a
// policy file (roles, patient reach, labels, consent default,
// break-the-glass; docs/access.md); an allowed data interaction comes with
// a Reach, which decides each resource (Reach.Check) and each search
// (Reach.Filter) from the Facts the engine gathers.
//
// Invariants:
//   - The package decides from what it is given (the Request, the Facts);
//     it never reads the database.
//   - A decision that cannot be made is a denial (fail closed); what a
//     consent says that the policy cannot read denies.
//   - Reach.Check and Reach.Filter agree: a resource the filter lets
//     through is one Check allows, and the other way round (FuzzConsent).
//   - One role decides an interaction; attributes of several roles are
//     never combined.
//   - Decisions carry a reason, which the audit log records.
package access

import (
	"context"
	"net/netip"
)

// Interaction names what a request does, in FHIR's terms.
type Interaction string

const (
	Read           Interaction = "read"
	VRead          Interaction = "vread"
	Update         Interaction = "update"
	Delete         Interaction = "delete"
	Create         Interaction = "create"
	SearchType     Interaction = "search-type"
	HistoryInst    Interaction = "history-instance"
	HistoryType    Interaction = "history-type"
	HistorySystem  Interaction = "history-system"
	Batch          Interaction = "batch"
	Transaction    Interaction = "transaction"
	Capabilities   Interaction = "capabilities"
	Import         Interaction = "import"
	Erase          Interaction = "erase"
	KeyRotation    Interaction = "key-rotation"
	Reindex        Interaction = "reindex"           // index rows rebuilt for a new encoding
	ConditionalHit Interaction = "conditional-match" // a conditional operation's search
	// AuditProof reads the audit log's checkpoints and proofs: hashes
	// only, meant to be public (anyone may check the log).
	AuditProof Interaction = "audit-proof"
	// AuditSearch reads audit events (who accessed what): administrators
	// and auditors only.
	AuditSearch Interaction = "audit-search"
	// AccessReport reads the audit events about one patient's data.
	AccessReport Interaction = "access-report"
	// AuditExport writes audit records out for an external auditor.
	AuditExport Interaction = "audit-export"
	// Configure starts the server with a configuration.
	Configure Interaction = "configure"
	// Token is an access token issued or refused by the authorization
	// server; TokenRevoke a revocation; Authenticate a bearer token refused
	// at the API; Login and Logout a user's sign-in and sign-out.
	Token           Interaction = "token"
	TokenRevoke     Interaction = "token-revoke"
	TokenIntrospect Interaction = "token-introspect"
	Authenticate    Interaction = "authenticate"
	Login           Interaction = "login"
	Logout          Interaction = "logout"
	// ClientRegistration adds or removes a client application.
	ClientRegistration Interaction = "client-registration"
	// UserAdministration creates an account or resets its password.
	UserAdministration Interaction = "user-administration"
	// PasswordChange and MFAEnrolment are a user's own changes at sign-in;
	// Consent is a user's decision on an app's authorization request.
	PasswordChange Interaction = "password-change"
	MFAEnrolment   Interaction = "mfa-enrolment"
	RecoveryCode   Interaction = "recovery-code" // a recovery code used as the second factor
	Consent        Interaction = "consent"
)

// Principal is who is acting: a network request's principal comes from
// its access token (internal/oauth); a request without a valid token is
// anonymous.
type Principal struct {
	ID      string // user or client id; "anonymous" when unauthenticated
	Kind    string // "anonymous", "local" (the CLI on the server's own data), "service" (a backend service), "user"
	Address netip.Addr
	Client  string   // the client application the request comes through
	Scopes  []string // the SMART scopes its access token grants
	// Patient is the patient in the token's launch context; FHIRUser the
	// user's own resource (a URL), when the token says.
	Patient, FHIRUser string
	Organization      string   // the id of the user's Organization (from the token), or ""
	Roles             []string // a user's roles (from the token)
	// Purpose is the purpose of use the request states (a v3-ActReason
	// code, e.g. TREAT); BreakGlass the reason given to break the glass
	// (free text: it goes into the sealed audit record only).
	Purpose, BreakGlass string
}

// Kinds of principals.
const (
	KindAnonymous = "anonymous"
	KindLocal     = "local"
	KindService   = "service"
	KindUser      = "user"
)

// Anonymous is the principal of an unauthenticated request.
func Anonymous(addr netip.Addr) *Principal {
	return &Principal{ID: "anonymous", Kind: "anonymous", Address: addr}
}

// Local is the principal of the hestia command working directly on a data
// directory (import): whoever can read the data directory.
func Local() *Principal { return &Principal{ID: "local", Kind: "local"} }

type principalKey struct{}

// WithPrincipal returns a context carrying p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal of ctx, or nil.
func PrincipalFrom(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}

// Request describes one interaction for a decision.
type Request struct {
	Principal    *Principal
	Interaction  Interaction
	ResourceType string // "" for system-level interactions
	ID           string
}

// Decision is the answer of a Policy.
type Decision struct {
	Allow  bool
	Reason string
	// Reach, for an allowed interaction on resources, says how far into
	// the data it reaches (nil: no limit beyond the decision: the Open
	// and Scopes policies).
	Reach *Reach
}

// Policy decides requests. Implementations MUST be safe for concurrent use.
// Decide looks at the principal and the interaction on a resource type
// only; what a data interaction may then see of each patient's data is
// its Decision's Reach, which the engine applies with the Facts it
// gathers (Reach.Check for a resource, Reach.Filter for a search).
type Policy interface {
	Decide(ctx context.Context, r *Request) Decision
}

// Open allows every request that has a principal, except reading audit
// events, which only an administrator may (until authentication exists,
// only the hestia command on the server's own data is one). It is the
// policy of a server without authentication, which therefore listens on
// loopback by default; role, scope, relationship and consent rules
// replace it.
type Open struct{}

// Decide implements Policy.
func (Open) Decide(_ context.Context, r *Request) Decision {
	if r.Principal == nil {
		return Decision{Allow: false, Reason: "no principal"}
	}
	if (r.Interaction == AuditSearch || r.Interaction == AccessReport || r.Interaction == AuditExport) && r.Principal.Kind != "local" {
		return Decision{Allow: false, Reason: "audit events are for administrators and auditors"}
	}
	return Decision{Allow: true, Reason: "open policy: no access control configured"}
}

var _ Policy = Open{}
