package telemetry

import (
	"net/http"
	"path"
	"strings"
)

// Interaction is the FHIR interaction of an HTTP request, the first label of the request
// metrics.
type Interaction uint8

const (
	Other Interaction = iota // health, metrics, the demo app, unknown routes
	Read
	VRead
	SearchType
	SearchSystem
	Create
	Update
	Patch
	Delete
	History
	Transaction
	Batch
	Capabilities
	Operation // $triage-stats, and any [type]/$op or [type]/[id]/$op
	Auth      // the /auth routes and the SMART configuration
	numInteractions
)

var interactionNames = [numInteractions]string{
	Other: "other", Read: "read", VRead: "vread", SearchType: "search-type", SearchSystem: "search-system",
	Create: "create", Update: "update", Patch: "patch", Delete: "delete", History: "history",
	Transaction: "transaction", Batch: "batch", Capabilities: "capabilities", Operation: "operation", Auth: "auth",
}

func (in Interaction) String() string {
	if in < numInteractions {
		return interactionNames[in]
	}
	return "other"
}

// ParseInteraction is the Interaction named s (Other when none is).
func ParseInteraction(s string) Interaction {
	for i, n := range interactionNames {
		if n == s {
			return Interaction(i)
		}
	}
	return Other
}

// Classifier tells the interaction of a request from its method and the route template Echo
// matched (never from the URL: the template has no ids).
type Classifier struct {
	fhir string // the FHIR base's path, "/fhir"
	auth string // the authorization server's path beside it, "/auth"
}

// NewClassifier classifies the routes under fhirPath (the FHIR base URL's path) and authPath.
func NewClassifier(fhirPath, authPath string) *Classifier {
	return &Classifier{fhir: strings.TrimSuffix(fhirPath, "/"), auth: strings.TrimSuffix(authPath, "/")}
}

// AuthPath is the path of the authorization server beside a FHIR base path: /fhir → /auth
// (smart's default issuer).
func AuthPath(fhirPath string) string {
	return path.Join(path.Dir(strings.TrimSuffix(fhirPath, "/")), "auth")
}

// Classify returns the interaction of a request with method whose matched route is route
// ("" when none matched); param reads the route's parameters (type, id). It returns the
// resource type as the route names it (unchecked: see ResourceType).
func (c *Classifier) Classify(method, route string, param func(string) string) (Interaction, string) {
	if route == "" {
		return Other, ""
	}
	if route == c.auth || strings.HasPrefix(route, c.auth+"/") {
		return Auth, ""
	}
	rest, ok := strings.CutPrefix(route, c.fhir)
	if !ok || rest != "" && rest[0] != '/' {
		return Other, ""
	}
	switch rest {
	case "", "/":
		if method == http.MethodPost {
			// A Bundle: the handler says batch or transaction once it has read it
			// (reqlog.SetInteraction); one it could not read stays "other".
			return Other, ""
		}
		return SearchSystem, ""
	case "/_search":
		return SearchSystem, ""
	case "/_history":
		return History, ""
	case "/metadata":
		return Capabilities, ""
	case "/.well-known/smart-configuration":
		return Auth, ""
	case "/:type":
		typ := param("type")
		if strings.HasPrefix(typ, "$") {
			return Operation, ""
		}
		switch method {
		case http.MethodGet, http.MethodHead:
			return SearchType, typ
		case http.MethodPost:
			return Create, typ
		case http.MethodPut:
			return Update, typ
		case http.MethodDelete:
			return Delete, typ
		}
		return Other, typ
	case "/:type/_search":
		return SearchType, param("type")
	case "/:type/_history", "/:type/:id/_history":
		return History, param("type")
	case "/:type/:id/_history/:vid":
		return VRead, param("type")
	case "/:type/:id":
		typ := param("type")
		if strings.HasPrefix(param("id"), "$") {
			return Operation, typ
		}
		switch method {
		case http.MethodGet, http.MethodHead:
			return Read, typ
		case http.MethodPut:
			return Update, typ
		case http.MethodPatch:
			return Patch, typ
		case http.MethodDelete:
			return Delete, typ
		}
		return Other, typ
	}
	if strings.Contains(rest, "$") { // a route of its own: /Communication/$triage-stats
		typ, _, _ := strings.Cut(strings.TrimPrefix(rest, "/"), "/")
		return Operation, typ
	}
	return Other, ""
}
